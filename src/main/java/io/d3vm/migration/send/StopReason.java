package io.d3vm.migration.send;

/** Why pre-copy stopped iterating and went to stop-and-copy; reported as {@code stop-reason}. */
public enum StopReason {
    /** The remaining dirty data fits the downtime limit at the measured bandwidth. */
    CONVERGED("converged"),
    /** The live-round limit ({@code --max-rounds}) was reached. */
    MAX_ROUNDS("max-rounds"),
    /** The dirty set stopped shrinking (see {@link ConvergencePolicy}). */
    NO_PROGRESS("no-progress"),
    /** {@code --postcopy-after N}: N live rounds ran; post-copy sends the rest. */
    POSTCOPY_AFTER("postcopy-after");

    private final String text;

    StopReason(String text) {
        this.text = text;
    }

    public String text() {
        return text;
    }
}
