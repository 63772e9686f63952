package io.d3vm.migration.fuzz;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes the valid seed streams as Jazzer inputs (run once when {@link Seeds} changes):
 * {@code java -cp target/test-classes:target/classes io.d3vm.migration.fuzz.WriteJazzerSeeds}.
 */
final class WriteJazzerSeeds {
    private WriteJazzerSeeds() {}

    public static void main(String[] args) throws Exception {
        Path base = Path.of(args.length > 0 ? args[0] : "src/test/resources/io/d3vm/migration/fuzz/WireFuzzTestInputs");
        List<byte[]> seeds = Seeds.all();
        for (String method : new String[] {"decoder", "receiver"}) {
            Path dir = base.resolve(method);
            Files.createDirectories(dir);
            for (int i = 0; i < seeds.size(); i++) {
                Files.write(dir.resolve("seed-" + i), seeds.get(i));
            }
        }
    }
}
