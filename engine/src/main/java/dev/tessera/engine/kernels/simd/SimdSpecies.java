package dev.tessera.engine.kernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one float species every SIMD kernel uses: the platform's preferred width, or narrower when
 * {@code -Dtessera.vectorBits=256} asks for it (to test the AVX2-shaped code on an AVX-512 machine). A static final so
 * that C2 folds it into every kernel.
 */
final class SimdSpecies {
    static final VectorSpecies<Float> FLOAT = choose();

    private SimdSpecies() {}

    private static VectorSpecies<Float> choose() {
        int preferred = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        int bits = Math.min(preferred, Integer.getInteger("tessera.vectorBits", preferred));
        return FloatVector.SPECIES_PREFERRED.vectorBitSize() == bits
                ? FloatVector.SPECIES_PREFERRED
                : VectorSpecies.of(float.class, VectorShape.forBitSize(bits));
    }
}
