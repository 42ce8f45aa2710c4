package dev.tessera.vit.data;

/** One batch ready for the model: normalised images (B, C, H, W) flattened, and labels. */
public record Batch(float[] images, int[] labels, int size, int index) {}
