package io.d3vm.layering;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Each layer imports only the layers below it (docs/ARCHITECTURE.md): the migration engine,
 * memory and sys build and test without a VMM, and kvm knows nothing of the VMM that uses it.
 * Scans the main sources for {@code io.d3vm.<package>} names in code (imports and qualified
 * names; comments are not code).
 */
class LayeringTest {
    /** What each top-level package may use besides itself. {@code cli} sits on top and may use all. */
    static final Map<String, Set<String>> ALLOWED = Map.of(
            "sys", Set.of(),
            "memory", Set.of("sys"),
            "migration", Set.of("memory", "sys"),
            "kvm", Set.of("memory", "sys"),
            "vmm", Set.of("kvm", "migration", "memory", "sys"),
            "api", Set.of("vmm", "kvm", "migration", "memory", "sys"));

    private static final Pattern REFERENCE = Pattern.compile("\\bio\\.d3vm\\.([a-z]+)\\b");
    private static final Path MAIN = Path.of("src/main/java/io/d3vm");

    @Test
    void shouldKeepEveryLayerAboveWhatItUses() throws IOException {
        List<String> violations = new ArrayList<>();
        int files = 0;
        try (Stream<Path> all = Files.walk(MAIN)) {
            for (Path f : all.filter(p -> p.toString().endsWith(".java")).toList()) {
                files++;
                String layer = MAIN.relativize(f).getName(0).toString();
                violations.addAll(violations(MAIN.relativize(f).toString(), layer, Files.readString(f)));
            }
        }
        assertThat(files).as("main sources found").isGreaterThan(100);
        assertThat(violations).as("references that go up the layers").isEmpty();
    }

    @Test
    void shouldCatchAForbiddenImportAndIgnoreComments() {
        String code = """
                package io.d3vm.migration.send;

                import io.d3vm.memory.GuestMemory;
                import io.d3vm.vmm.vstate.Vm;     // up a layer: forbidden
                /** Called by {@link io.d3vm.cli.Main}: a comment is not a dependency. */
                class X { io.d3vm.kvm.Kvm k; }    // a qualified name is one
                """;
        assertThat(violations("migration/send/X.java", "migration", code))
                .containsExactly("migration/send/X.java: migration uses kvm", "migration/send/X.java: migration uses vmm");
        assertThat(violations("cli/X.java", "cli", code)).isEmpty();
    }

    /** The references of {@code code} (a file of {@code layer}) that its layer may not make. */
    static List<String> violations(String file, String layer, String code) {
        Set<String> allowed = ALLOWED.get(layer);
        if (allowed == null) {
            return List.of(); // cli: the top
        }
        Set<String> used = new TreeSet<>();
        Matcher m = REFERENCE.matcher(withoutComments(code));
        while (m.find()) {
            used.add(m.group(1));
        }
        List<String> out = new ArrayList<>();
        for (String u : used) {
            if (!u.equals(layer) && !allowed.contains(u)) {
                out.add(file + ": " + layer + " uses " + u);
            }
        }
        return out;
    }

    /** {@code code} with its comments blanked out (string literals in the sources name no packages). */
    static String withoutComments(String code) {
        return code.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\\n]*", " ");
    }
}
