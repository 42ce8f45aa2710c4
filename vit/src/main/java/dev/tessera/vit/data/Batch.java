package dev.tessera.vit.data;

/** One batch ready for the model: normalised images (B, C, H, W) flattened, labels, and soft targets (B, classes) when mixed. */
public record Batch(float[] images, int[] labels, float[] soft, int size, int index) {}
