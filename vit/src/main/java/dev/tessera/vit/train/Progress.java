package dev.tessera.vit.train;

import java.io.PrintStream;

/** A one-line console progress bar with ETA, redrawn in place on a terminal and printed sparsely otherwise. */
final class Progress {
    private final PrintStream out;
    private final String label;
    private final int total;
    private final long start = System.nanoTime();
    private final boolean tty = System.console() != null;
    private long lastPrint;

    Progress(PrintStream out, String label, int total) {
        this.out = out;
        this.label = label;
        this.total = total;
    }

    void update(int done, String status) {
        long now = System.nanoTime();
        boolean due = tty ? now - lastPrint > 200_000_000L : now - lastPrint > 30_000_000_000L;
        if (!due && done != total) return;
        lastPrint = now;
        double elapsed = (now - start) / 1e9, eta = done == 0 ? 0 : elapsed / done * (total - done);
        int width = 24, filled = (int) ((long) width * done / Math.max(1, total));
        String bar = "#".repeat(filled) + "-".repeat(width - filled);
        String line = String.format("%s [%s] %d/%d %s ETA %s", label, bar, done, total, status, clock(eta));
        if (tty) out.print("\r" + line + "   ");
        else out.println(line);
        out.flush();
    }

    void finish(String summary) {
        if (tty) out.print("\r");
        out.printf("%s: %s%n", label, summary);
        out.flush();
    }

    private static String clock(double s) {
        long t = Math.round(s);
        return String.format("%d:%02d", t / 60, t % 60);
    }
}
