package dev.tessera.vit.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Set;
import org.junit.jupiter.api.Test;

/** Flags that default to on (train's SPT and LSA) must be switchable off, and a mistyped value must not pass as off. */
class ArgsTest {
    private static Args parse(String... argv) {
        return new Args(argv, Set.of("spt", "lsa"), Set.of("epochs"));
    }

    @Test
    void absentFlagTakesItsDefault() {
        Args a = parse("--epochs", "3");
        assertTrue(a.flag("spt", true));
        assertFalse(a.flag("lsa"));
    }

    @Test
    void flagCanBeSwitchedOffOrOnExplicitly() {
        Args a = parse("--spt=false", "--lsa=TRUE");
        assertFalse(a.flag("spt", true));
        assertTrue(a.flag("lsa", false));
        assertTrue(parse("--spt").flag("spt", false));
    }

    @Test
    void anyOtherFlagValueIsAUsageErrorNamingTheFlag() {
        UsageException e = assertThrows(UsageException.class, () -> parse("--spt=no").flag("spt", true));
        assertTrue(e.getMessage().contains("--spt") && e.getMessage().contains("'no'"), e.getMessage());
    }

    @Test
    void unknownOptionIsNamed() {
        UsageException e = assertThrows(UsageException.class, () -> parse("--no-spt"));
        assertTrue(e.getMessage().contains("--no-spt"), e.getMessage());
    }
}
