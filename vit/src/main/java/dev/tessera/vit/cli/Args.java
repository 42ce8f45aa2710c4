package dev.tessera.vit.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** "--name value" and "--flag" options plus positional arguments; unknown options are a usage error. */
final class Args {
    private final Map<String, String> values = new HashMap<>();
    final List<String> positional = new ArrayList<>();

    Args(String[] args, Set<String> flags, Set<String> options) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.startsWith("--")) {
                String name = a.substring(2), value = null;
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    value = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                if (flags.contains(name)) {
                    values.put(name, value == null ? "true" : value);
                } else if (options.contains(name)) {
                    if (value == null) {
                        if (i + 1 >= args.length) throw new UsageException("--" + name + " needs a value");
                        value = args[++i];
                    }
                    values.put(name, value);
                } else {
                    throw new UsageException("unknown option --" + name);
                }
            } else {
                positional.add(a);
            }
        }
    }

    /** Whether the option or flag was given at all. */
    boolean given(String name) {
        return values.containsKey(name);
    }

    String str(String name, String def) {
        return values.getOrDefault(name, def);
    }

    int integer(String name, int def) {
        String v = values.get(name);
        if (v == null) return def;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " expects an integer, got '" + v + "'");
        }
    }

    long lng(String name, long def) {
        String v = values.get(name);
        if (v == null) return def;
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " expects an integer, got '" + v + "'");
        }
    }

    float flt(String name, float def) {
        String v = values.get(name);
        if (v == null) return def;
        try {
            return Float.parseFloat(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " expects a number, got '" + v + "'");
        }
    }

    /** An option that takes true or false ("--flip false"); anything else is a usage error, not a silent false. */
    boolean bool(String name, boolean def) {
        return trueOrFalse(name, def, "expects true or false,");
    }

    /** One of an enum's constants by name, any case; otherwise a usage error listing them. */
    <E extends Enum<E>> E choice(String name, Class<E> type, E def) {
        String v = values.get(name);
        if (v == null) return def;
        for (E e : type.getEnumConstants()) if (e.name().equalsIgnoreCase(v)) return e;
        List<String> names = new ArrayList<>();
        for (E e : type.getEnumConstants()) names.add(e.name().toLowerCase(java.util.Locale.ROOT));
        throw new UsageException("--" + name + " expects one of " + String.join(", ", names) + "; got '" + v + "'");
    }

    boolean flag(String name) {
        return flag(name, false);
    }

    /** "--name" or "--name=true|false"; anything else is a usage error rather than a silent false. */
    boolean flag(String name, boolean absent) {
        return trueOrFalse(name, absent, "takes no value, or =true / =false;");
    }

    /** The option's value as true or false (any case), def when absent; anything else a usage error saying what it takes. */
    private boolean trueOrFalse(String name, boolean def, String takes) {
        String v = values.get(name);
        if (v == null) return def;
        if (v.equalsIgnoreCase("true")) return true;
        if (v.equalsIgnoreCase("false")) return false;
        throw new UsageException("--" + name + " " + takes + " got '" + v + "'");
    }
}
