package io.d3vm.cli;

/**
 * Every exit code {@code d3vm} returns, in one place (README's "Exit codes" table says the same).
 * Bad arguments and bad input files are picocli {@code ParameterException}s, which Main turns into
 * {@link #USAGE}; any other failure that escapes a command is {@link #FAILED}.
 */
final class ExitCode {
    /** Done: the migration completed, the guest powered off, the command did its job. */
    static final int OK = 0;
    /** Failed at run time: a migration that failed (the source guest was resumed, intact), a guest that crashed. */
    static final int FAILED = 1;
    /** Bad arguments or input: nothing was started (a migration's source guest was not touched). */
    static final int USAGE = 2;
    /** The destination acknowledged but GO was not confirmed: the guest is paused on both sides. */
    static final int UNCONFIRMED = 3;
    /** Completed, but the audit after GO found the source's paused memory differs from the destination's. */
    static final int AUDIT_MISMATCH = 4;

    private ExitCode() {}
}
