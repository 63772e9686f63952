package io.d3vm.api;

import java.util.Locale;

/** The guest as {@code query-status} (and {@code cont}, {@code quit}) report it. */
public enum GuestRunState {
    RUNNING,
    /** Paused by a migration's stop-and-copy, or held after an unconfirmed hand-over. */
    PAUSED,
    /** Moved to another host: it runs there now. */
    MIGRATED,
    /** Powered off (quit) or its program ended. */
    ENDED;

    public String json() {
        return name().toLowerCase(Locale.ROOT);
    }
}
