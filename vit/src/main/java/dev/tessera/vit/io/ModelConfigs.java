package dev.tessera.vit.io;

import dev.tessera.vit.model.ViTConfig;
import java.util.LinkedHashMap;
import java.util.Map;

/** ViTConfig to and from the JSON map of config.json. */
public final class ModelConfigs {
    private ModelConfigs() {}

    public static Map<String, Object> toMap(ViTConfig c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("image_height", c.imageHeight());
        m.put("image_width", c.imageWidth());
        m.put("channels", c.channels());
        m.put("patch", c.patch());
        m.put("dim", c.dim());
        m.put("depth", c.depth());
        m.put("heads", c.heads());
        m.put("mlp_dim", c.mlpDim());
        m.put("num_classes", c.numClasses());
        m.put("pool", c.pool().name().toLowerCase());
        m.put("posemb", c.posEmb().name().toLowerCase());
        m.put("fc_norm", c.fcNorm());
        m.put("head", c.head().name().toLowerCase());
        m.put("head_zero_init", c.headZeroInit());
        m.put("ln_eps", (double) c.lnEps());
        m.put("emb_dropout", (double) c.embDropout());
        m.put("proj_dropout", (double) c.projDropout());
        m.put("mlp_dropout", (double) c.mlpDropout());
        m.put("drop_path", (double) c.dropPath());
        m.put("attn_dropout", (double) c.attnDropout());
        m.put("spt", c.spt());
        m.put("lsa", c.lsa());
        m.put("drloc", (double) c.drloc());
        return m;
    }

    public static ViTConfig fromMap(Map<?, ?> m) {
        return new ViTConfig(i(m, "image_height"), i(m, "image_width"), i(m, "channels"), i(m, "patch"), i(m, "dim"), i(m, "depth"),
                i(m, "heads"), i(m, "mlp_dim"), i(m, "num_classes"),
                ViTConfig.Pool.valueOf(s(m, "pool").toUpperCase()), ViTConfig.PosEmb.valueOf(s(m, "posemb").toUpperCase()),
                (Boolean) m.get("fc_norm"), ViTConfig.Head.valueOf(s(m, "head").toUpperCase()), (Boolean) m.get("head_zero_init"),
                f(m, "ln_eps"), f(m, "emb_dropout"), f(m, "proj_dropout"), f(m, "mlp_dropout"), f(m, "drop_path"),
                // Absent from configs written before attention dropout existed.
                m.containsKey("attn_dropout") ? f(m, "attn_dropout") : 0f,
                Boolean.TRUE.equals(m.get("spt")), Boolean.TRUE.equals(m.get("lsa")),
                m.containsKey("drloc") ? f(m, "drloc") : 0f);
    }

    private static int i(Map<?, ?> m, String k) {
        Object v = m.get(k);
        if (!(v instanceof Number n)) throw new IllegalArgumentException("config field '" + k + "' missing or not a number");
        return n.intValue();
    }

    private static float f(Map<?, ?> m, String k) {
        Object v = m.get(k);
        if (!(v instanceof Number n)) throw new IllegalArgumentException("config field '" + k + "' missing or not a number");
        return n.floatValue();
    }

    private static String s(Map<?, ?> m, String k) {
        Object v = m.get(k);
        if (!(v instanceof String str)) throw new IllegalArgumentException("config field '" + k + "' missing or not a string");
        return str;
    }
}
