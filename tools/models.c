/*
 * models.c — the models `vkt train --model` names, shared by train, test and predict.
 *
 *   mlp  Linear/ReLU layers of --layers sizes (default 784-256-128-10) on flat (784) samples
 *   cnn  the reference CNN (vkt_cnn_desc: Conv-BN-ReLU-MaxPool x2, Linear 128, Dropout 0.25,
 *        Linear) on (1, 28, 28) samples
 *
 * A checkpoint says which one it holds in hyper_parameters.model (checkpoints without it are
 * MLPs); the MLP's sizes and the CNN's class count come from its state_dict shapes, so `vkt test`
 * never needs them retyped and a checkpoint cannot be paired with the wrong model.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *vkt_cli_model_name(vkt_cli_model_kind k) { return k == VKT_CLI_CNN ? "cnn" : "mlp"; }

int vkt_cli_model_parse(const char *cmd, const char *v, vkt_cli_model_kind *out)
{
    if (strcmp(v, "mlp") == 0 || strcmp(v, "cnn") == 0) {
        *out = v[0] == 'c' ? VKT_CLI_CNN : VKT_CLI_MLP;
        return 0;
    }
    fprintf(stderr, "%s: --model is mlp or cnn, not '%s'\n", cmd, v);
    return 2;
}

int vkt_cli_model_from_ckpt(const char *cmd, const vkt_dict *ckpt, const char *path,
                            vkt_cli_model *out)
{
    memset(out, 0, sizeof *out);
    const vkt_dict *hp = vkt_dict_get_child(ckpt, "hyper_parameters");
    const char *name = hp ? vkt_dict_get_string(hp, "model") : NULL;
    if (name && strcmp(name, "gpt") == 0) {
        fprintf(stderr, "%s: %s holds a GPT of vkt train --model gpt; vkt generate --checkpoint "
                        "takes it\n",
                cmd, path);
        return 1;
    }
    if (name && strcmp(name, "mlp") != 0 && strcmp(name, "cnn") != 0) {
        fprintf(stderr, "%s: %s: hyper_parameters.model is '%s'; vkt knows mlp and cnn\n", cmd,
                path, name);
        return 1;
    }
    if (!name || strcmp(name, "mlp") == 0) {
        out->kind = VKT_CLI_MLP;
        return vkt_cli_ckpt_layers(cmd, ckpt, path, out->layers, VKT_CLI_MAX_LAYERS,
                                   &out->n_layers);
    }
    out->kind = VKT_CLI_CNN;
    const vkt_dict *sd = vkt_dict_get_child(ckpt, "state_dict");
    int nd = 0;
    int64_t shape[VKT_MAX_DIMS];
    if (!sd || !vkt_dict_get_floats(sd, VKT_CLI_CNN_LAST_BIAS, &nd, shape) || nd != 1 ||
        shape[0] < 1 || shape[0] > 1000000) {
        fprintf(stderr, "%s: %s: a cnn checkpoint needs state_dict \"" VKT_CLI_CNN_LAST_BIAS
                        "\" (the last layer's bias, one value per class)\n",
                cmd, path);
        return 1;
    }
    out->classes = (uint32_t)shape[0];
    return 0;
}

uint32_t vkt_cli_model_classes(const vkt_cli_model *mdl)
{
    return mdl->kind == VKT_CLI_CNN ? mdl->classes : mdl->layers[mdl->n_layers - 1];
}

int vkt_cli_model_fit_data(const char *cmd, const vkt_cli_model *mdl, vkt_dataset *ds,
                           const char *what)
{
    uint32_t features = mdl->kind == VKT_CLI_CNN ? 28 * 28 : mdl->layers[0];
    if (vkt_cli_check_data(cmd, ds, what, features, vkt_cli_model_classes(mdl))) {
        return 1;
    }
    if (mdl->kind == VKT_CLI_CNN &&
        vkt_dataset_reshape(ds, 3, (const int64_t[]){1, 28, 28}) != VKT_OK) {
        fprintf(stderr, "%s: %s: %s\n", cmd, what, vkt_last_error());
        return 1;
    }
    return 0;
}

int vkt_cli_model_create(const char *cmd, vkt_device *dev, const vkt_cli_model *mdl,
                         uint64_t seed, vkt_model **out)
{
    vkt_model_desc md;
    vkt_status s = mdl->kind == VKT_CLI_CNN
                       ? vkt_cnn_desc(&(vkt_cnn_config){.channels = 1, .height = 28, .width = 28,
                                                        .classes = mdl->classes, .seed = seed},
                                      &md)
                       : vkt_mlp_desc(mdl->layers, mdl->n_layers, seed, &md);
    if (s == VKT_OK) {
        s = vkt_model_create(dev, &md, out);
    }
    if (s != VKT_OK) {
        fprintf(stderr, "%s: creating the model: %s\n", cmd, vkt_last_error());
        return 1;
    }
    return 0;
}

const char *vkt_cli_model_describe(const vkt_cli_model *mdl, char *buf, size_t size)
{
    if (mdl->kind == VKT_CLI_CNN) {
        snprintf(buf, size, "CNN (Conv 32-BN-ReLU-MaxPool, Conv 64-BN-ReLU-MaxPool, Linear 128, "
                            "Dropout 0.25, Linear %u)",
                 mdl->classes);
        return buf;
    }
    size_t len = (size_t)snprintf(buf, size, "MLP");
    for (int i = 0; i < mdl->n_layers && len < size; i++) {
        len += (size_t)snprintf(buf + len, size - len, "%c%u", i ? '-' : ' ', mdl->layers[i]);
    }
    return buf;
}
