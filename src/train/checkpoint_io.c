/*
 * checkpoint_io.c — files written atomically and read whole: vkt_checkpoint_save /
 * vkt_checkpoint_load over the format of checkpoint_format.c, and the CSV logger's files.
 *
 * An atomic write goes to <path>.tmp.<pid>, is fflush'd and fsync'd, renamed over <path>, and the
 * directory is fsync'd: a crash leaves the old file or the new one, never a partial one. Callers
 * allocate everything before (the checkpoint's whole image), so running out of memory leaves the
 * old file and no temporary behind. A write also removes the temporaries killed writes of the
 * same target left (stale_tmp).
 * Tests: tests/test_train_io.c (checkpoint_* cases, allocation failures), tests/test_logging.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/train_internal.h"

/* ---- directories ---- */

vkt_status vkt__mkdir_p(const char *path)
{
    char tmp[4096];
    if (!path || !path[0]) {
        return VKT_OK;
    }
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        return vkt__error(VKT_INVALID_ARGUMENT, "directory path too long: '%s'", path);
    }
    for (char *p = tmp + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
                return vkt__error(VKT_IO, "cannot create directory '%s': %s", tmp,
                                  strerror(errno));
            }
            *p = c;
            if (c == '\0') {
                break;
            }
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return vkt__error(VKT_IO, "cannot create directory '%s': a file is in the way", path);
    }
    return VKT_OK;
}

/* ---- atomic writes ---- */

/* The directory part of `path` ("." when none). */
static void dir_of(const char *path, char *dir, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, n, ".");
    } else if (slash == path) {
        snprintf(dir, n, "/");
    } else {
        snprintf(dir, n, "%.*s", (int)(slash - path), path);
    }
}

/* Whether the directory entry `name` is a temporary file a killed save of `base` (the target's
 * file name) left: its name is <base>.tmp.<pid>, the pid not ours and of no live process
 * (kill(pid, 0) fails with ESRCH; a live process, another user's included, keeps its file), and
 * it is a regular file whose beginning `ours` accepts (NULL: any; a checkpoint's accepts an empty
 * file, killed before anything reached the disk, or one that starts as a save starts). Anything
 * else, another target's temporary or a user's "notes.tmp.12" among them, stays. */
static bool stale_tmp(int dirfd, const char *name, const char *base, vkt__file_check ours)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || strncmp(name + bl, ".tmp.", 5) != 0) {
        return false;
    }
    const char *digits = name + bl + 5;
    size_t nd = strspn(digits, "0123456789");
    if (nd == 0 || nd > 9 || digits[nd] != '\0') {
        return false;
    }
    long pid = strtol(digits, NULL, 10);
    if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
        return false;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    struct stat st;
    unsigned char head[64];
    ssize_t got = 0;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular) {
        got = pread(fd, head, sizeof head, 0);
    }
    close(fd);
    return regular && got >= 0 && (!ours || ours(head, (size_t)got));
}

/* Removes the stale temporary files of `path` (stale_tmp) from its directory. Best effort: one
 * that cannot be read or removed stays, and the save goes on. */
static void remove_stale_tmp(const char *path, vkt__file_check ours)
{
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    DIR *dp = opendir(dir);
    if (!dp) {
        return;
    }
    for (struct dirent *de = readdir(dp); de; de = readdir(dp)) {
        if (stale_tmp(dirfd(dp), de->d_name, base, ours)) {
            unlinkat(dirfd(dp), de->d_name, 0);
        }
    }
    closedir(dp);
}

static vkt_status fsync_dir_of(const char *who, const char *path)
{
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return vkt__error(VKT_IO, "%s: cannot open directory '%s' to sync it: %s",
                          who, dir, strerror(errno));
    }
    int r = fsync(fd);
    int err = errno;
    close(fd);
    if (r != 0 && err != EINVAL && err != EROFS) {
        return vkt__error(VKT_IO, "%s: cannot sync directory '%s': %s", who, dir,
                          strerror(err));
    }
    return VKT_OK;
}

vkt_status vkt__write_file_atomic(const char *who, const char *path, vkt__file_writer write,
                                  void *ctx, vkt__file_check ours)
{
    char tmp[4200];
    /* the parent directory, as Lightning's checkpoint IO makes it */
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        vkt_status s = vkt__mkdir_p(dir);
        if (s != VKT_OK) {
            return vkt__error_context("%s: '%s'", who, path);
        }
    }
    remove_stale_tmp(path, ours);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        vkt_status s = vkt__error(VKT_IO, "%s: cannot create '%s': %s", who, tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return s;
    }
    bool ok = write(f, ctx);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        vkt_status s = vkt__error(VKT_IO, "%s: cannot write '%s': %s", who, tmp, strerror(err));
        unlink(tmp);
        return s;
    }
    if (rename(tmp, path) != 0) {
        vkt_status s = vkt__error(VKT_IO, "%s: cannot rename '%s' to '%s': %s", who, tmp, path,
                                  strerror(errno));
        unlink(tmp);
        return s;
    }
    return fsync_dir_of(who, path);
}

/* ---- reading a file whole ---- */

vkt_status vkt__read_file(const char *who, const char *path, unsigned char **out, uint64_t *len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return vkt__error(err == ENOENT ? VKT_NOT_FOUND : VKT_IO, "%s: cannot open '%s': %s", who,
                          path, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vkt__error(VKT_IO, "%s: '%s' is not a regular file", who, path);
    }
    uint64_t size = (uint64_t)st.st_size;
    unsigned char *buf = vkt__malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory reading '%s' (%llu bytes)",
                          who, path, (unsigned long long)size);
    }
    uint64_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got > (1u << 30) ? (1u << 30) : size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (uint64_t)r;
    }
    int err = errno;
    close(fd);
    if (got != size) {
        free(buf);
        return vkt__error(VKT_IO, "%s: cannot read '%s': %s", who, path,
                          got < size ? strerror(err) : "file changed while reading");
    }
    *out = buf;
    *len = size;
    return VKT_OK;
}

/* ---- checkpoints ---- */

vkt_status vkt_checkpoint_save(const vkt_dict *ckpt, const char *path)
{
    if (!ckpt || !path || !path[0]) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_checkpoint_save: %s is NULL or empty",
                          ckpt ? "path" : "checkpoint");
    }
    vkt__ckpt_image *im = NULL;
    vkt_status s = vkt__checkpoint_encode(ckpt, path, &im);
    if (s == VKT_OK) {
        s = vkt__write_file_atomic("vkt_checkpoint_save", path, vkt__checkpoint_write, im,
                                   vkt__checkpoint_starts_like);
    }
    vkt__checkpoint_image_free(im);
    return s;
}

vkt_status vkt_checkpoint_load(const char *path, vkt_dict **out)
{
    if (out) {
        *out = NULL;
    }
    if (!path || !out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_checkpoint_load: %s is NULL",
                          path ? "out" : "path");
    }
    unsigned char *buf;
    uint64_t size;
    vkt_status s = vkt__read_file("vkt_checkpoint_load", path, &buf, &size);
    if (s == VKT_OK) {
        s = vkt__checkpoint_decode(path, buf, size, out);
        free(buf);
    }
    return s;
}
