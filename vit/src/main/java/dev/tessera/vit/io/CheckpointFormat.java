package dev.tessera.vit.io;

import java.util.Locale;
import java.util.Set;

/** Whose key names a ViT safetensors file uses. */
public enum CheckpointFormat {
    /** timm's vit_*: patch_embed.proj, cls_token, pos_embed, blocks.N.attn.qkv, mlp.fc1, head. */
    TIMM,
    /** torchvision's vit_*: conv_proj, class_token, encoder.pos_embedding, encoder.layers.encoder_layer_N, heads.head. */
    TORCHVISION,
    /** Hugging Face ViTForImageClassification / ViTModel: embeddings.*, encoder.layer.N.attention.attention.query, classifier. */
    HF,
    /** Tessera's own training checkpoints (model.safetensors beside config.json). */
    TESSERA;

    public static CheckpointFormat parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "timm" -> TIMM;
            case "torchvision", "tv" -> TORCHVISION;
            case "hf", "huggingface", "transformers" -> HF;
            case "tessera" -> TESSERA;
            default -> throw new IllegalArgumentException("unknown checkpoint format '" + s + "': use auto, timm, torchvision or hf");
        };
    }

    /**
     * The format whose tell-tale keys the file has, or an IOException listing what was looked for: like every other
     * problem with a file's contents (a corrupted key name made this an IllegalArgumentException, which the
     * mutated-checkpoint property caught).
     */
    public static CheckpointFormat detect(String file, Set<String> keys, java.util.Map<String, String> metadata) throws java.io.IOException {
        if ("tessera-vit".equals(metadata.get("format"))) return TESSERA;
        if (keys.contains("conv_proj.weight") || keys.contains("encoder.pos_embedding")) return TORCHVISION;
        if (keys.contains("patch_embed.proj.weight") && keys.contains("pos_embed")) return TIMM;
        for (String k : keys) if (k.endsWith("embeddings.patch_embeddings.projection.weight")) return HF;
        throw new java.io.IOException(file + ": not a ViT checkpoint this reader knows: none of conv_proj.weight (torchvision), "
                + "patch_embed.proj.weight (timm) or embeddings.patch_embeddings.projection.weight (Hugging Face) among its "
                + keys.size() + " tensors");
    }
}
