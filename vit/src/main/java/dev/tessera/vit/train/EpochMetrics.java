package dev.tessera.vit.train;

import java.util.LinkedHashMap;
import java.util.Map;

/** One line of OUT/metrics.jsonl. */
public record EpochMetrics(int epoch, double trainLoss, double trainAcc, double testLoss, double testAcc, double imgPerS, double seconds) {
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("epoch", epoch);
        m.put("train_loss", round(trainLoss));
        m.put("train_acc", round(trainAcc));
        m.put("test_loss", round(testLoss));
        m.put("test_acc", round(testAcc));
        m.put("img_per_s", Math.round(imgPerS * 10) / 10.0);
        m.put("seconds", Math.round(seconds * 10) / 10.0);
        return m;
    }

    public static EpochMetrics fromMap(Map<?, ?> m) {
        return new EpochMetrics(((Number) m.get("epoch")).intValue(), num(m, "train_loss"), num(m, "train_acc"), num(m, "test_loss"),
                num(m, "test_acc"), num(m, "img_per_s"), num(m, "seconds"));
    }

    private static double num(Map<?, ?> m, String k) {
        Object v = m.get(k);
        return v == null ? Double.NaN : ((Number) v).doubleValue();
    }

    private static double round(double v) {
        return Math.round(v * 1e5) / 1e5;
    }
}
