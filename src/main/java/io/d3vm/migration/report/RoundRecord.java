package io.d3vm.migration.report;

/**
 * One pre-copy round as the report shows it.
 *
 * @param round       1-based; the last one ran with the guest paused
 * @param pages       pages sent (NORMAL and dispensable)
 * @param normalPages pages sent with their 4 KiB of data
 * @param bytes       bytes put on the wire for the round (headers, metadata, data)
 * @param durationUs  wall time of the round, microseconds
 * @param throttlePercent the guest's throttle during the round (auto-converge; 0 = full speed)
 */
public record RoundRecord(int round, long pages, long normalPages, long bytes, long durationUs, int throttlePercent) {}
