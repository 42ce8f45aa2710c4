package dev.tessera.vit.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.tessera.vit.io.Json;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tessera predict --weights on the committed fixtures, through the CLI's entry point. */
class PredictCliTest {
    @TempDir Path dir;

    static String fixture(String name) throws URISyntaxException {
        return Path.of(PredictCliTest.class.getResource("/fixtures/vit/" + name).toURI()).toString();
    }

    static String[] run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true), new PrintStream(err, true));
        return new String[] {Integer.toString(code), out.toString(), err.toString()};
    }

    @Test
    void jsonWithLogitsOnePerImage() throws Exception {
        String img = fixture("images/rgb.png"), jpg = fixture("images/photo.jpg");
        String[] r = run("predict", "--weights", fixture("tiny_hf.safetensors"), "--json", "--logits", "--top", "3", img, jpg);
        assertEquals("0", r[0], r[2]);
        List<String> lines = r[1].lines().filter(l -> l.startsWith("{")).toList();
        assertEquals(2, lines.size(), r[1]);
        Map<?, ?> o = (Map<?, ?>) Json.parse(lines.get(0));
        assertEquals(img, o.get("image"));
        List<?> top = (List<?>) o.get("top");
        assertEquals(3, top.size());
        Map<?, ?> first = (Map<?, ?>) top.get(0);
        assertTrue(first.get("label").toString().startsWith("class"), "labels from the HF config: " + first);
        assertEquals(7, ((List<?>) o.get("logits")).size());
        double p0 = ((Number) first.get("prob")).doubleValue(), p1 = ((Number) ((Map<?, ?>) top.get(1)).get("prob")).doubleValue();
        assertTrue(p0 >= p1 && p0 <= 1, "sorted probabilities");
    }

    @Test
    void labelsFileAndBadInputsGetClearErrors() throws Exception {
        Path labels = dir.resolve("labels.txt");
        Files.writeString(labels, "a\nb\nc\nd\ne\nf\ng\n");
        String[] r = run("predict", "--weights", fixture("tiny_timm.safetensors"), "--heads", "3", "--labels", labels.toString(), "--top", "1", fixture("images/grey.png"));
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].matches("(?s).*1\\. [a-g] .*"), r[1]);

        Files.writeString(labels, "a\nb\n");
        r = run("predict", "--weights", fixture("tiny_timm.safetensors"), "--heads", "3", "--labels", labels.toString(), fixture("images/grey.png"));
        assertEquals("1", r[0]);
        assertTrue(r[2].contains("2 labels for a model of 7 classes"), r[2]);

        Path notImage = dir.resolve("notes.png");
        Files.writeString(notImage, "not an image");
        r = run("predict", "--weights", fixture("tiny_timm.safetensors"), "--heads", "3", notImage.toString());
        assertEquals("1", r[0]);
        assertTrue(r[2].contains("notes.png"), r[2]);

        r = run("predict", "--weights", dir.resolve("missing.safetensors").toString(), fixture("images/grey.png"));
        assertEquals("1", r[0]);
        assertTrue(r[2].contains("missing.safetensors"), r[2]);

        r = run("predict", "--weights", fixture("tiny_timm.safetensors"), "--format", "onnx", fixture("images/grey.png"));
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("unknown checkpoint format 'onnx'"), r[2]);
    }
}
