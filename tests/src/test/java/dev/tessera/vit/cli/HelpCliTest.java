package dev.tessera.vit.cli;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** "--help" after any command prints the usage and succeeds, rather than failing as an unknown option. */
class HelpCliTest {
    @Test
    void helpAfterACommandPrintsTheUsage() {
        for (String cmd : new String[] {"train", "predict", "analyze"}) {
            String[] r = PredictCliTest.run(cmd, "--help");
            assertEquals("0", r[0], cmd + ": " + r[2]);
            assertTrue(r[1].contains("usage: tessera") && r[1].contains("--randaugment N,M"), r[1]);
        }
        String[] r = PredictCliTest.run("train", "--hlep");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("unknown option --hlep"), r[2]);
    }
}
