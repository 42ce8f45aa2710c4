package dev.tessera.engine.kernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one float species every SIMD kernel uses: the platform's preferred width, or narrower when
 * {@code -Dtessera.vectorBits=256} asks for it (to test the AVX2-shaped code on an AVX-512 machine). A static final so
 * that C2 folds it into every kernel.
 */
final class SimdSpecies {
    static final VectorSpecies<Float> FLOAT = choose();

    /**
     * Lane i takes lane i + h (mod the length), h = 8, 4, 2, 1: the rounds of an in-register sum whose lane 0 ends as
     * {@link SimdMath#sum}'s result, bit for bit (the same additions in the same order). The sum through an array
     * waited about 95 cycles on its store and scalar loads; a row of LayerNorm waits on three.
     */
    static final VectorShuffle<Float> FOLD8 = fold(8), FOLD4 = fold(4), FOLD2 = fold(2), FOLD1 = fold(1);

    private static VectorShuffle<Float> fold(int h) {
        int n = FLOAT.length();
        return VectorShuffle.fromOp(FLOAT, i -> (i + h) % n);
    }

    private SimdSpecies() {}

    private static VectorSpecies<Float> choose() {
        int preferred = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        int bits = Math.min(preferred, Integer.getInteger("tessera.vectorBits", preferred));
        return FloatVector.SPECIES_PREFERRED.vectorBitSize() == bits
                ? FloatVector.SPECIES_PREFERRED
                : VectorSpecies.of(float.class, VectorShape.forBitSize(bits));
    }
}
