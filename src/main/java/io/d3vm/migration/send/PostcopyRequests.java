package io.d3vm.migration.send;

import io.d3vm.migration.wire.AckStage;
import io.d3vm.migration.wire.FrameDecoder;
import io.d3vm.migration.wire.FrameType;
import io.d3vm.migration.wire.Messages;
import io.d3vm.migration.wire.ProtocolException;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The source's reader during post-copy: the destination's REQUESTs (pages its guest waits on)
 * queued for the sending thread, which serves them before the next batch of the stream, and its
 * last word — ACK(completion), or ABORT. Anything else, or a broken connection, fails post-copy.
 */
final class PostcopyRequests {
    private final FrameDecoder in;
    private final long pageCount;
    private final ConcurrentLinkedQueue<Long> pages = new ConcurrentLinkedQueue<>();
    private final CompletableFuture<Messages.Ack> completion = new CompletableFuture<>();
    private volatile long requests;

    PostcopyRequests(FrameDecoder in, long pageCount) {
        this.in = in;
        this.pageCount = pageCount;
    }

    void start() {
        Thread.ofPlatform().daemon().name("postcopy-requests").start(this::read);
    }

    private void read() {
        try {
            while (true) {
                FrameType t = in.next();
                if (t == FrameType.REQUEST) {
                    pages.add(in.readRequest(pageCount));
                    requests++;
                } else if (t == FrameType.ACK) {
                    Messages.Ack a = in.readAck();
                    if (a.stage() != AckStage.COMPLETION) {
                        throw new ProtocolException("expected REQUEST or ACK(completion) in post-copy, got ACK for stage " + a.stage());
                    }
                    completion.complete(a);
                    return;
                } else if (t == FrameType.ABORT) {
                    throw new IOException("the destination aborted post-copy: " + in.readAbort().reason());
                } else {
                    throw new ProtocolException("expected REQUEST or ACK(completion) in post-copy, got " + t);
                }
            }
        } catch (IOException | RuntimeException e) {
            completion.completeExceptionally(e);
        }
    }

    /** The next page asked for, or -1. */
    long poll() {
        Long p = pages.poll();
        return p == null ? -1 : p;
    }

    long requests() {
        return requests;
    }

    /** Throws what ended the reader, if it failed. */
    void check() throws IOException {
        if (completion.isCompletedExceptionally()) {
            await(0);
        }
    }

    /** The destination's ACK(completion), waited for up to {@code timeoutMillis}. */
    Messages.Ack await(long timeoutMillis) throws IOException {
        try {
            return completion.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("reading the destination during post-copy failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("no ACK(completion) from the destination within " + timeoutMillis + " ms of the last post-copy page");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the destination", e);
        }
    }
}
