package dev.tessera.vit.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Set;
import org.junit.jupiter.api.Test;

/** Flags that default to on (train's SPT and LSA) must be switchable off, and a mistyped value must not pass as off. */
class ArgsTest {
    private static Args parse(String... argv) {
        return new Args(argv, Set.of("spt", "lsa"), Set.of("epochs", "flip", "pool"));
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

    @Test
    void booleanOptionTakesOnlyTrueOrFalse() {
        assertFalse(parse("--flip", "FALSE").bool("flip", true));
        assertTrue(parse("--epochs", "2").bool("flip", true));
        UsageException e = assertThrows(UsageException.class, () -> parse("--flip", "yes").bool("flip", false));
        assertTrue(e.getMessage().contains("--flip") && e.getMessage().contains("'yes'"), e.getMessage());
    }

    @Test
    void choiceMatchesAnyCaseAndListsTheChoicesOtherwise() {
        assertEquals(dev.tessera.vit.model.ViTConfig.Pool.GAP, parse("--pool", "Gap").choice("pool", dev.tessera.vit.model.ViTConfig.Pool.class, null));
        assertEquals(dev.tessera.vit.model.ViTConfig.Pool.CLS, parse().choice("pool", dev.tessera.vit.model.ViTConfig.Pool.class, dev.tessera.vit.model.ViTConfig.Pool.CLS));
        UsageException e = assertThrows(UsageException.class, () -> parse("--pool", "xyz").choice("pool", dev.tessera.vit.model.ViTConfig.Pool.class, null));
        assertTrue(e.getMessage().contains("--pool") && e.getMessage().contains("cls, gap") && e.getMessage().contains("'xyz'"), e.getMessage());
    }
}
