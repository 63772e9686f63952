package io.d3vm.migration.fault;

import io.d3vm.testing.Awaits;
import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.guest.Migratable;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * The destination process of the load test: accepts {@code N} migrations on one port and receives
 * them all at once, one thread each (the {@code receive} command takes one at a time). For each it
 * prints the outcome, and for a completed one whether the running guest, paused, equals the
 * {@link SyntheticModel}. Run by {@link ConcurrentMigrationTest} as a second JVM.
 */
public final class ConcurrentReceiver {
    private ConcurrentReceiver() {}

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        try (Listener l = new TcpTransport().listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            System.out.println("listening on 127.0.0.1:" + l.localAddress().getPort() + " ");
            System.out.flush();
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                Connection c = l.accept();
                threads.add(Thread.ofPlatform().start(() -> receive(c)));
            }
            for (Thread t : threads) {
                t.join();
            }
        }
        System.out.println("all done");
    }

    private static void receive(Connection c) {
        MigrationReceiver r = new MigrationReceiver(SyntheticGuest.register(new GuestFactories()),
                ReceiverLimits.defaults().withReadTimeoutMillis(30_000));
        try (c) {
            Migratable g = r.receive(c);
            SyntheticGuest sg = (SyntheticGuest) g;
            boolean runs;
            try {
                Awaits.advances("the received guest's writes", sg::writes);
                runs = true;
            } catch (AssertionError stalled) {
                runs = false; // reported below; the parent test asserts on it
            }
            sg.pause();
            String model = SyntheticModel.mismatch(sg);
            sg.shutdown();
            println("received " + r.stats().description + " digest 0x" + Long.toHexString(r.stats().digest) + " runs " + runs
                    + " model " + (model == null ? "ok" : model));
        } catch (MigrationException e) {
            println("failed " + e.getMessage());
        } catch (Exception e) {
            println("failed " + e);
        }
    }

    private static synchronized void println(String s) {
        System.out.println(s);
        System.out.flush();
    }
}
