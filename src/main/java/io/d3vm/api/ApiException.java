package io.d3vm.api;

/**
 * A request the control API refuses, with the QMP error class ({@code GenericError},
 * {@code CommandNotFound}, ...) and a message that says what was wrong and what to do. Thrown by
 * the server's command handlers (sent as {@code {"error": ...}}) and by {@link ApiClient} when the
 * server answers with an error.
 */
public final class ApiException extends Exception {
    private static final long serialVersionUID = 1L;
    private final String errorClass;

    public ApiException(String errorClass, String message) {
        super(message);
        this.errorClass = errorClass;
    }

    public static ApiException invalid(String message) {
        return new ApiException("GenericError", message);
    }

    public String errorClass() {
        return errorClass;
    }
}
