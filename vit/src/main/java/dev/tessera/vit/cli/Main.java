package dev.tessera.vit.cli;

import java.io.PrintStream;
import java.util.Arrays;

/** The command line: {@code tessera <command> [options]}. Each command lives in its own class. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        if (code != 0) System.exit(code);
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        String cmd = args.length == 0 ? "help" : args[0];
        String[] rest = args.length == 0 ? args : Arrays.copyOfRange(args, 1, args.length);
        // "tessera train --help" is a question, not an unknown option.
        if (Arrays.stream(rest).anyMatch(r -> r.equals("--help") || r.equals("-h"))) {
            usage(out);
            return 0;
        }
        try {
            return switch (cmd) {
                case "info" -> InfoCommand.run(rest, out);
                case "train" -> TrainCommand.run(rest, out);
                case "eval" -> EvalCommand.run(rest, out);
                case "predict" -> PredictCommand.run(rest, out);
                case "analyze" -> AnalyzeCommand.run(rest, out);
                case "pretrain" -> PretrainCommand.run(rest, out);
                case "ablate" -> AblateCommand.run(rest, out);
                case "help", "-h", "--help" -> {
                    usage(out);
                    yield 0;
                }
                default -> {
                    err.println("tessera: unknown command '" + cmd + "'");
                    usage(err);
                    yield 2;
                }
            };
        } catch (UsageException e) {
            err.println("tessera " + cmd + ": " + e.getMessage());
            return 2;
        } catch (java.io.IOException | RuntimeException e) {
            err.println("tessera " + cmd + ": " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("tessera " + cmd + ": interrupted");
            return 130;
        }
    }

    static void usage(PrintStream out) {
        out.println("usage: tessera <command> [options]");
        out.println("  train    train a ViT on Fashion-MNIST (--epochs --batch-size --lr --seed --threads --out --data,");
        out.println("           --dim --depth --heads --mlp-dim --patch --pool cls|gap --posemb learn|sincos2d|none;");
        out.println("           SPT and LSA are on by default: --spt=false --lsa=false for the plain ViT; --drloc LAMBDA)");
        out.println("           recipe: --weight-decay --warmup EPOCHS --smoothing --crop-pad PX --flip true|false --ema DECAY");
        out.println("           --drop-path P --attn-dropout P --mixup ALPHA --cutmix ALPHA --inception-crop MINSCALE");
        out.println("           --randaugment N,M; data: --dataset fashion-mnist|cifar10|folder --image-size N --channels 1|3");
        out.println("           --train-limit N; --quick (one epoch on 10,000 images); --resume (continue OUT's run as it");
        out.println("           was started)");
        out.println("           fine-tuning: --init CHECKPOINT [--finetune] (SGD momentum 0.9, new zero head; timm, torchvision,");
        out.println("           Hugging Face safetensors or a Tessera checkpoint)");
        out.println("  eval     --checkpoint DIR: test accuracy and confusion matrix");
        out.println("  predict  (--checkpoint DIR | --weights FILE.safetensors [--format auto|timm|torchvision|hf] [--heads H]");
        out.println("           [--image-size N]) [--preprocess timm|torchvision|hf] [--labels FILE] [--top K] [--json] [--logits]");
        out.println("           IMAGE...: the top-k classes of each image");
        out.println("  analyze  --checkpoint DIR [--out DIR] [--compare DIR] [--images N]: attention rollout, attention");
        out.println("           distance, position-embedding similarity and layer CKA pictures (PNG)");
        out.println("  pretrain --objective mpp [--epochs N] [--out DIR]: masked patch prediction, then train --init DIR/checkpoint");
        out.println("           (--batch-size --lr --warmup --weight-decay --seed --threads --quick; data flags as train; --dim");
        out.println("           --depth --heads --mlp-dim --patch --spt --lsa; --resume continues OUT's run as it was started)");
        out.println("  ablate   [--epochs N] [--seeds 1,2] [--fractions 1,0.1] [--out DIR] [--quick]: baseline, +SPT+LSA, +DRLoc and");
        out.println("           MPP-pretrained, on all and on 10% of the labels; writes a Markdown table");
        out.println("  info     the JDK, cores, caches, vector width, FMA, and which kernel path is active and why");
        out.println("  test     run the test suite (launcher script only)");
        out.println("  build    build all modules, tests skipped (launcher script only)");
    }
}
