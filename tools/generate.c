/*
 * generate.c — `vkt generate`: text from a `vkt train --model gpt` checkpoint. The checkpoint's
 * hyper_parameters give the model's sizes and the vocabulary (hex, vkt_vocab_parse), so the
 * prompt is encoded and the output decoded exactly as in training. Each new character is one
 * forward of the last `context` tokens in eval mode, then vkt_sample_logits (temperature, top-k,
 * seeded) on the last position's logits, read back; the same seed gives the same text.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "vkt generate"

int vkt_cli_gpt_generate(const char *cmd, vkt_gpt *g, const vkt_vocab *vocab, const char *prompt,
                         uint32_t n, const vkt_sample_desc *sd, uint64_t seed, FILE *out)
{
    vkt_device *dev = vkt_model_device(g->model);
    const uint32_t ctx = g->config.context, V = g->config.vocab;
    size_t np = strlen(prompt);
    int32_t *tok = malloc((np + n + 1) * sizeof *tok);
    float *logits = malloc((size_t)V * sizeof *logits);
    int rc = 1;
    if (!tok || !logits) {
        fprintf(stderr, "%s: out of host memory\n", cmd);
        goto done;
    }
    if (vkt_vocab_encode(vocab, (const uint8_t *)prompt, np, tok) != VKT_OK) {
        fprintf(stderr, "%s: --prompt: %s\n", cmd, vkt_last_error());
        rc = 2;
        goto done;
    }
    if (np == 0) { /* an empty prompt: start from a newline (token 0 without one) */
        tok[0] = vocab->index['\n'] >= 0 ? vocab->index['\n'] : 0;
        np = 1;
    } else {
        fwrite(prompt, 1, np, out);
    }
    uint64_t rng = seed;
    size_t len = np;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = (uint32_t)(len < ctx ? len : ctx);
        vkt_scope_begin(dev);
        vkt_tensor *idx = vkt_tensor_new_2d(dev, VKT_I32, 1, t);
        vkt_status s = idx ? vkt_tensor_upload(idx, tok + len - t, t * sizeof *tok)
                           : vkt_last_status();
        vkt_tensor *last = s == VKT_OK ? vkt_narrow(vkt_gpt_forward(g, idx), 1, t - 1, 1) : NULL;
        s = last ? vkt_tensor_download(last, logits, (size_t)V * sizeof *logits)
                 : vkt_last_status();
        vkt_scope_end(dev);
        if (s != VKT_OK || vkt_sample_logits(logits, V, sd, &rng, &tok[len]) != VKT_OK) {
            fprintf(stderr, "%s: generating: %s\n", cmd, vkt_last_error());
            goto done;
        }
        uint8_t c = vocab->bytes[tok[len++]];
        fputc(c, out);
        fflush(out);
    }
    fputc('\n', out);
    fflush(out); /* before the timing line on stderr */
    rc = 0;
done:
    free(tok);
    free(logits);
    return rc;
}

int vkt_cli_gpt_from_ckpt(const char *cmd, const vkt_dict *ckpt, const char *path,
                          vkt_gpt_config *cfg, vkt_vocab *vocab)
{
    const vkt_dict *hp = vkt_dict_get_child(ckpt, "hyper_parameters");
    const char *model = hp ? vkt_dict_get_string(hp, "model") : NULL;
    if (!model || strcmp(model, "gpt") != 0) {
        fprintf(stderr, "%s: %s holds %s%s%s, not a GPT of vkt train --model gpt\n", cmd, path,
                model ? "a " : "no hyper_parameters.model", model ? model : "",
                model ? " model" : "");
        return 1;
    }
    const char *hex = vkt_dict_get_string(hp, "vocab");
    if (!hex || vkt_vocab_parse(hex, vocab) != VKT_OK) {
        fprintf(stderr, "%s: %s: hyper_parameters.vocab: %s\n", cmd, path,
                hex ? vkt_last_error() : "missing");
        return 1;
    }
    const char *keys[] = {"context", "layers", "heads", "width", "tie_weights"};
    double v[5];
    for (int i = 0; i < 5; i++) {
        if (!vkt_dict_get_number(hp, keys[i], &v[i]) || !(v[i] >= 0 && v[i] <= 1e6) ||
            v[i] != floor(v[i])) {
            fprintf(stderr, "%s: %s: hyper_parameters.%s is missing or not a count\n", cmd, path,
                    keys[i]);
            return 1;
        }
    }
    *cfg = (vkt_gpt_config){.vocab = vocab->size, .context = (uint32_t)v[0],
                            .layers = (uint32_t)v[1], .heads = (uint32_t)v[2],
                            .width = (uint32_t)v[3], .tie_weights = v[4] != 0};
    return 0;
}

static int usage(FILE *f)
{
    fprintf(f, "usage: vkt generate --checkpoint PATH [options]\n"
               "\n"
               "Writes text from a checkpoint of vkt train --model gpt to stdout.\n"
               "\n"
               "  --checkpoint PATH   a .ckpt of vkt train --model gpt (required)\n"
               "  --prompt S          text to continue; every byte must be in the model's\n"
               "                      vocabulary (default: a newline)\n"
               "  --tokens N          characters to generate (default 200)\n"
               "  --temperature X     logits / X before sampling; 0 = greedy (default 0.8)\n"
               "  --top-k K           sample from the K most likely characters; 0 = all (default 0)\n"
               "  --seed N            the sampling generator's seed (default 0)\n"
               "  --device D, --validation, -h, --help\n");
    return f == stderr ? 2 : 0;
}

int vkt_cli_generate(int argc, char **argv)
{
    const char *path = NULL, *prompt = "\n", *select = NULL;
    bool validation = false;
    uint32_t tokens = 200, top_k = 0;
    float temperature = 0.8f;
    uint64_t seed = 0;
    enum { O_CKPT = 256, O_PROMPT, O_TOKENS, O_TEMP, O_TOPK, O_SEED, O_DEVICE, O_VALIDATION };
    static const struct option opts[] = {
        {"checkpoint", required_argument, NULL, O_CKPT},
        {"prompt", required_argument, NULL, O_PROMPT},
        {"tokens", required_argument, NULL, O_TOKENS},
        {"temperature", required_argument, NULL, O_TEMP},
        {"top-k", required_argument, NULL, O_TOPK},
        {"seed", required_argument, NULL, O_SEED},
        {"device", required_argument, NULL, O_DEVICE},
        {"validation", no_argument, NULL, O_VALIDATION},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *v = optarg;
        int rc = 0;
        switch (c) {
        case O_CKPT: path = v; break;
        case O_PROMPT: prompt = v; break;
        case O_DEVICE: select = v; break;
        case O_VALIDATION: validation = true; break;
        case O_TOKENS: rc = vkt_cli_u32(CMD, "--tokens", v, 1, 1000000, &tokens); break;
        case O_TEMP: rc = vkt_cli_float(CMD, "--temperature", v, 0, 100, &temperature); break;
        case O_TOPK: rc = vkt_cli_u32(CMD, "--top-k", v, 0, 1u << 24, &top_k); break;
        case O_SEED: rc = vkt_cli_u64(CMD, "--seed", v, 0, UINT64_MAX, &seed); break;
        case 'h': return usage(stdout);
        default: rc = vkt_cli_getopt_error(CMD, c, argv, opts); break;
        }
        if (rc) {
            return rc;
        }
    }
    if (optind < argc) {
        fprintf(stderr, CMD ": unexpected argument '%s' (see vkt generate --help)\n", argv[optind]);
        return 2;
    }
    if (!path) {
        fprintf(stderr, CMD ": --checkpoint PATH is required (a checkpoint of vkt train --model "
                            "gpt)\n");
        return 2;
    }
    int rc = 1;
    vkt_dict *ckpt = NULL;
    vkt_device *dev = NULL;
    vkt_model *m = NULL;
    vkt_gpt g;
    vkt_gpt_config cfg;
    vkt_vocab vocab;
    if (vkt_checkpoint_load(path, &ckpt) != VKT_OK) {
        fprintf(stderr, CMD ": --checkpoint: %s\n", vkt_last_error());
        goto cleanup;
    }
    if (vkt_cli_gpt_from_ckpt(CMD, ckpt, path, &cfg, &vocab)) {
        goto cleanup;
    }
    dev = vkt_cli_open_device(select, validation);
    if (!dev) {
        goto cleanup;
    }
    if (vkt_model_create(dev, &(vkt_model_desc){.label = "gpt"}, &m) != VKT_OK ||
        vkt_gpt_init(m, &cfg, &g) != VKT_OK) {
        fprintf(stderr, CMD ": %s: %s\n", path, vkt_last_error());
        goto cleanup;
    }
    if (vkt_cli_ckpt_weights(CMD, ckpt, path, m)) {
        goto cleanup;
    }
    vkt_model_train(m, false);
    vkt_sample_desc sd = {.temperature = temperature, .top_k = top_k, .greedy = temperature == 0};
    double t0 = vkt__cli_now();
    rc = vkt_cli_gpt_generate(CMD, &g, &vocab, prompt, tokens, &sd, seed, stdout);
    if (rc == 0) {
        fprintf(stderr, "%u characters in %.2f s\n", tokens, vkt__cli_now() - t0);
    }

cleanup:
    vkt_model_destroy(m);
    vkt_device_destroy(dev);
    vkt_dict_destroy(ckpt);
    return rc;
}
