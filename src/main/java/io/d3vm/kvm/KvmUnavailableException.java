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
            case 2 -> path + " does not exist: this machine offers no KVM. Load the module (modprobe kvm_intel or"
                    + " kvm_amd), enable virtualization in the firmware, or for a nested VM enable nested"
                    + " virtualization on its host";
            case 13, 1 -> "no permission to open " + path + ": add your user to its group (sudo usermod -aG kvm $USER,"
                    + " then log in again) or run d3vm as root";
            case 19, 6 -> path + " exists but no KVM driver answers (ENODEV): load kvm_intel or kvm_amd";
            default -> "cannot open " + path + ": " + io.d3vm.sys.Errno.describe(errno);
        });
    }
}
