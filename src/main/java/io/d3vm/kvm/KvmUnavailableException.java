package io.d3vm.kvm;

/**
 * {@code /dev/kvm} cannot be used on this machine; the message says why and what to do. Tests that
 * need KVM skip on it; the CLI prints it.
 */
public final class KvmUnavailableException extends RuntimeException {
    public KvmUnavailableException(String message) {
        super(message);
    }

    static KvmUnavailableException forOpen(String path, int errno) {
        return new KvmUnavailableException(switch (errno) {
            case 2 -> path + " does not exist: this machine offers no KVM. Load the module (" + moduleHint()
                    + "), enable virtualization in the firmware, or for a nested VM enable nested"
                    + " virtualization on its host";
            case 13, 1 -> "no permission to open " + path + ": add your user to its group (sudo usermod -aG kvm $USER,"
                    + " then log in again) or run d3vm as root";
            case 19, 6 -> path + " exists but no KVM driver answers (ENODEV): " + moduleHint();
            default -> "cannot open " + path + ": " + io.d3vm.sys.Errno.describe(errno);
        });
    }

    /** The module for this host's CPU vendor (from /proc/cpuinfo): Intel's, AMD's, or both when unknown. */
    static String moduleHint() {
        return moduleHint(vendorId());
    }

    static String moduleHint(String vendorId) {
        return switch (vendorId) {
            case "GenuineIntel" -> "modprobe kvm_intel";
            case "AuthenticAMD", "HygonGenuine" -> "modprobe kvm_amd";
            default -> "modprobe kvm_intel or kvm_amd";
        };
    }

    private static String vendorId() {
        try (var lines = java.nio.file.Files.lines(java.nio.file.Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("vendor_id")).map(l -> l.substring(l.indexOf(':') + 1).strip())
                    .findFirst().orElse("");
        } catch (java.io.IOException | java.io.UncheckedIOException e) {
            return "";
        }
    }
}
