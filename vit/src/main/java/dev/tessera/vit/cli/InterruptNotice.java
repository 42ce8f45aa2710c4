package dev.tessera.vit.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a user who stops a run (Ctrl-C, a kill) needs to hear: where the last finished epoch is and the command that
 * continues from it. The JVM runs its shutdown hooks on SIGINT and SIGTERM; the hook is removed once the run returns,
 * whether it finished or failed, so only a run cut short prints it.
 */
final class InterruptNotice implements AutoCloseable {
    private final Thread hook;

    InterruptNotice(String command, Path out) {
        hook = new Thread(() -> {
            boolean saved = Files.isRegularFile(out.resolve("checkpoint").resolve("model.safetensors"));
            System.err.println();
            System.err.println(saved
                    ? "tessera " + command + ": stopped; the last finished epoch is in " + out.resolve("checkpoint") + ", continue with: ./tessera "
                      + command + " --resume --out " + out
                    : "tessera " + command + ": stopped before the first epoch finished; nothing was saved in " + out);
        }, "tessera-interrupt-notice");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // The JVM is already going down: the notice prints.
        }
    }
}
