package io.d3vm.vmm.boot.testguest;

import io.d3vm.memory.Sizes;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A test-guest description {@code test:<workload>[,mem=<size>][,key=value...]}, as given to
 * {@code d3vm run --guest} and sent by a migration source as its {@code describe()}. Parsed and
 * validated once; {@link #commandLine()} is what the guest reads (guest/README.md "Boot contract"): the workload
 * followed by every key but {@code mem}.
 *
 * @param workload idle, dirty, verify, image, or poweroff (boot line, then power-off: for start-up timing)
 * @param memBytes guest RAM (default {@link #DEFAULT_MEM})
 * @param params   the other keys in the order given
 */
public record TestGuestSpec(String workload, long memBytes, Map<String, String> params) {
    public static final String PREFIX = "test:";
    public static final Set<String> WORKLOADS = Set.of("idle", "dirty", "verify", "image", "poweroff");
    public static final long DEFAULT_MEM = 256L << 20;
    /** The guest loads in [1, 16) MiB and its workloads use memory from 16 MiB: 32 MiB is the least that makes sense. */
    public static final long MIN_MEM = 32L << 20;
    public static final long MAX_MEM = 1L << 40;
    public static final int MAX_CMDLINE = io.d3vm.vmm.boot.multiboot.MultibootInfo.MAX_CMDLINE;

    private static final Pattern KEY = Pattern.compile("[a-z][a-z0-9_.-]*");
    private static final Pattern VALUE = Pattern.compile("[\\x21-\\x7e]*");

    public TestGuestSpec {
        params = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(params));
        if (!WORKLOADS.contains(workload)) {
            throw new IllegalArgumentException("unknown test-guest workload '" + workload + "': use one of idle, dirty, verify, image, poweroff");
        }
        if (memBytes < MIN_MEM) {
            throw new IllegalArgumentException("mem=" + formatSize(memBytes) + " is too little for the test guest: it needs at least "
                    + formatSize(MIN_MEM) + " (it loads below 16 MiB and its workloads run above)");
        }
        if (memBytes > MAX_MEM || (memBytes & 0xfff) != 0) {
            throw new IllegalArgumentException("mem=" + formatSize(memBytes) + " must be a multiple of 4 KiB up to 1T");
        }
        for (var e : params.entrySet()) {
            if (!KEY.matcher(e.getKey()).matches() || e.getKey().equals("mem")) {
                throw new IllegalArgumentException("bad test-guest key '" + e.getKey() + "' (lower-case letters, digits, _ . -)");
            }
            if (!VALUE.matcher(e.getValue()).matches()) {
                throw new IllegalArgumentException("bad value for " + e.getKey() + ": printable ASCII without spaces only");
            }
        }
        int len = workload.length();
        for (var e : params.entrySet()) {
            len += 1 + e.getKey().length() + 1 + e.getValue().length();
        }
        if (len > MAX_CMDLINE) {
            throw new IllegalArgumentException("test-guest command line of " + len + " bytes exceeds " + MAX_CMDLINE);
        }
    }

    /** Parses {@code test:<workload>,mem=256M,key=value,...}. */
    public static TestGuestSpec parse(String text) {
        if (text == null || !text.startsWith(PREFIX)) {
            throw new IllegalArgumentException("guest '" + text + "' is not a test guest: write test:<workload>[,mem=256M][,key=value...]"
                    + " with workload idle, dirty, verify or image");
        }
        String[] parts = text.substring(PREFIX.length()).split(",", -1);
        String workload = parts[0];
        long mem = DEFAULT_MEM;
        Map<String, String> params = new LinkedHashMap<>();
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i];
            int eq = p.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("'" + p + "' in guest '" + text + "' is not key=value");
            }
            String key = p.substring(0, eq);
            String value = p.substring(eq + 1);
            if (key.equals("mem")) {
                mem = parseSize(value);
            } else if (params.putIfAbsent(key, value) != null) {
                throw new IllegalArgumentException("key '" + key + "' appears twice in guest '" + text + "'");
            }
        }
        return new TestGuestSpec(workload, mem, params);
    }

    /** The guest's command line: {@code <workload> key=value ...}. */
    public String commandLine() {
        StringBuilder sb = new StringBuilder(workload);
        params.forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        return sb.toString();
    }

    /**
     * The description key that carries the VM's vCPU count to a migration destination (the VMM's
     * key, not the guest's: {@code run} adds it for {@code --vcpus N > 1}).
     */
    public static final String VCPUS_KEY = "vcpus";

    /** The vCPU count this description asks for: its {@code vcpus=N} key, else 1. */
    public int vcpus(int max) {
        String v = params.get(VCPUS_KEY);
        if (v == null) {
            return 1;
        }
        try {
            int n = Integer.parseInt(v);
            if (n >= 1 && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // fall through to the message
        }
        throw new IllegalArgumentException("vcpus=" + v + " in '" + describe() + "' is not a vCPU count 1.." + max);
    }

    /** The canonical description (round-trips through {@link #parse}). */
    public String describe() {
        StringBuilder sb = new StringBuilder(PREFIX).append(workload).append(",mem=").append(formatSize(memBytes));
        params.forEach((k, v) -> sb.append(',').append(k).append('=').append(v));
        return sb.toString();
    }

    public TestGuestSpec withParam(String key, String value) {
        Map<String, String> p = new LinkedHashMap<>(params);
        p.put(key, value);
        return new TestGuestSpec(workload, memBytes, p);
    }

    /**
     * A size with an optional binary suffix K, M, G or T (e.g. 256M, 1G); a bare number means MiB,
     * as QEMU's {@code -m} reads it.
     */
    public static long parseSize(String s) {
        long n = Sizes.parse(s, 20);
        if (n <= 0) {
            throw new IllegalArgumentException("'" + s + "' is not a size above zero (e.g. 256M, 1G)");
        }
        return n;
    }

    public static String formatSize(long bytes) {
        return Sizes.compact(bytes);
    }
}
