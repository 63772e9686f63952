package io.d3vm.migration.report;

/**
 * What post-copy did, on either side: from GO (the guest runs at the destination) until the last
 * page arrived. The source counts the pages it sent and the REQUESTs it served; the destination the
 * faults it served from the network ({@code faultsRemote}: a REQUEST each, latency measured from
 * the fault to the page being in place) and locally ({@code faultsLocal}: a page the source never
 * had content for, zero-filled here with no message).
 */
public record PostcopyRecord(long timeUs, long pages, long bytes, long requests, long faultsRemote, long faultsLocal,
                             Long latencyP50Us, Long latencyP99Us, Long latencyMaxUs) {}
