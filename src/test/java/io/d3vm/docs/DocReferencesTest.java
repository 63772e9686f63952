package io.d3vm.docs;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every document the sources, scripts and docs name exists in this repository (docs/X.md,
 * guest/README.md, README.md ...), and nothing points outside it: a reader of a clone can follow
 * every reference.
 */
class DocReferencesTest {
    static final Path ROOT = Path.of(System.getProperty("d3vm.projectDir", ".")).toAbsolutePath();
    private static final Pattern DOC = Pattern.compile("(?<![\\w/.-])((?:docs/|guest/)?[A-Z][A-Z0-9-]*\\.md)\\b");
    private static final List<String> SCANNED = List.of("src", "docs", "guest", "scripts", "README.md", "pom.xml", "d3vm", ".ci");

    static boolean exists(String name) {
        if (name.contains("/")) {
            return Files.isRegularFile(ROOT.resolve(name));
        }
        return Files.isRegularFile(ROOT.resolve(name)) || Files.isRegularFile(ROOT.resolve("docs").resolve(name))
                || Files.isRegularFile(ROOT.resolve("guest").resolve(name));
    }

    @Test
    void shouldNameOnlyDocumentsThatExistHereAndNothingOutside() throws IOException {
        List<String> dangling = new ArrayList<>();
        int files = 0;
        for (String top : SCANNED) {
            Path start = ROOT.resolve(top);
            if (!Files.exists(start)) {
                continue;
            }
            try (Stream<Path> all = Files.walk(start)) {
                for (Path f : all.filter(Files::isRegularFile).filter(DocReferencesTest::isText)
                        .filter(f -> !f.getFileName().toString().equals("DocReferencesTest.java")).toList()) {
                    files++;
                    String text = Files.readString(f);
                    String rel = ROOT.relativize(f).toString();
                    for (String outside : List.of("../shared", "/work/shared")) {
                        if (text.contains(outside)) {
                            dangling.add(rel + ": points outside the repository (" + outside + ")");
                        }
                    }
                    Matcher m = DOC.matcher(text);
                    while (m.find()) {
                        if (!exists(m.group(1))) {
                            dangling.add(rel + ": " + m.group(1));
                        }
                    }
                }
            }
        }
        assertThat(files).as("files scanned").isGreaterThan(200);
        assertThat(dangling).as("references to documents that are not in the repository").isEmpty();
    }

    private static boolean isText(Path f) {
        String n = f.getFileName().toString();
        return n.endsWith(".java") || n.endsWith(".md") || n.endsWith(".sh") || n.endsWith(".py") || n.endsWith(".c")
                || n.endsWith(".h") || n.endsWith(".S") || n.endsWith(".ld") || n.endsWith(".xml") || n.equals("d3vm")
                || n.equals("run") || n.equals("Makefile");
    }
}
