package io.d3vm.migration.report;

/**
 * What the kernel's TCP said of the migration's connection between its setup and its end (the
 * source's report, docs/REPORT.md {@code link}): of the time it had data outstanding, how long the
 * receiver's window and how long the send buffer held it back (the rest: the network — the
 * congestion window, a shaped link). Counted in jiffies by Linux (4 ms at HZ=250).
 *
 * @param busyUs                 time with data outstanding
 * @param receiverLimitedUs      time the receiver's advertised window was the limit (it read too slowly)
 * @param sendBufferLimitedUs    time the send buffer was the limit
 * @param deliveryRateBytesPerSecond TCP's latest delivery-rate sample at the end
 * @param rttUs                  smoothed round-trip time at the end
 * @param minRttUs               the lowest round-trip time seen
 * @param bytesRetransmitted     bytes sent again in that time
 */
public record LinkRecord(long busyUs, long receiverLimitedUs, long sendBufferLimitedUs, long deliveryRateBytesPerSecond,
                         long rttUs, long minRttUs, long bytesRetransmitted) {

    /** Of the busy time, the share the receiver held the sender back; NaN when never busy. */
    public double receiverLimitedShare() {
        return busyUs <= 0 ? Double.NaN : (double) receiverLimitedUs / busyUs;
    }
}
