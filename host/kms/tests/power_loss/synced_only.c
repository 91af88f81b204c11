/*
 * A model of what a disk keeps through a power loss, for the crash-safety test: preloaded into
 * `kms serve` (LD_PRELOAD), it keeps beside every file opened for writing under the directory
 * SYNCED_ONLY_PREFIX names a copy, `<file>.synced`, that holds exactly what fsync or fdatasync
 * has made durable: a write reaches the copy only when its file is next synced, and a file that
 * is closed or abandoned unsynced keeps its last synced state. Replacing each file by its copy
 * after SIGKILL is the worst a power loss may do (every unsynced write lost, whatever the page
 * cache held), which SIGKILL alone never shows.
 *
 * Only the calls SQLite's unix VFS makes are followed: open/openat, write/pwrite, ftruncate,
 * fsync/fdatasync and close. Nothing here is compiled into kms; the test builds it with `cc`.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FD 4096

struct range {
    off_t offset;
    size_t length;
};

struct tracked {
    int copy_fd; /* -1: the descriptor is not followed */
    struct range *dirty;
    size_t dirty_len, dirty_cap;
};

static struct tracked files[MAX_FD];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);

static void resolve(void) {
    real_open = dlsym(RTLD_NEXT, "open");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_close = dlsym(RTLD_NEXT, "close");
    for (int i = 0; i < MAX_FD; i++) files[i].copy_fd = -1;
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "synced_only: %s %s: %s\n", what, path, strerror(errno));
    abort();
}

/* Copies `length` bytes at `offset` from one descriptor to the other. */
static void copy_range(int from, int to, off_t offset, size_t length) {
    char buffer[65536];
    while (length > 0) {
        size_t chunk = length < sizeof buffer ? length : sizeof buffer;
        ssize_t got = pread(from, buffer, chunk, offset);
        if (got < 0) die("reading", "a followed file");
        if (got == 0) return; /* past the end: a later truncation shortened the file */
        if (real_pwrite(to, buffer, (size_t)got, offset) != got) die("writing", "a copy");
        offset += got;
        length -= (size_t)got;
    }
}

/* Starts following `fd`, opened for writing at `path`: its copy starts as the file is now
 * (the test makes the vault durable before it starts the server). */
static void follow(int fd, const char *path, int flags) {
    const char *prefix = getenv("SYNCED_ONLY_PREFIX");
    if (fd < 0 || fd >= MAX_FD || !prefix || strncmp(path, prefix, strlen(prefix)) != 0) return;
    if ((flags & O_ACCMODE) == O_RDONLY) return;
    char copy_path[4096];
    snprintf(copy_path, sizeof copy_path, "%s.synced", path);
    pthread_mutex_lock(&lock);
    int fresh = access(copy_path, F_OK) != 0;
    int copy = real_open(copy_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (copy < 0) die("opening", copy_path);
    if (fresh) {
        struct stat st;
        if (fstat(fd, &st) != 0) die("measuring", path);
        if (real_ftruncate(copy, st.st_size) != 0) die("sizing", copy_path);
        copy_range(fd, copy, 0, (size_t)st.st_size);
    }
    files[fd].copy_fd = copy;
    files[fd].dirty_len = 0;
    pthread_mutex_unlock(&lock);
}

static void note_write(int fd, off_t offset, ssize_t written) {
    if (fd < 0 || fd >= MAX_FD || written <= 0) return;
    pthread_mutex_lock(&lock);
    struct tracked *t = &files[fd];
    if (t->copy_fd >= 0) {
        if (t->dirty_len == t->dirty_cap) {
            t->dirty_cap = t->dirty_cap ? t->dirty_cap * 2 : 64;
            t->dirty = realloc(t->dirty, t->dirty_cap * sizeof *t->dirty);
            if (!t->dirty) die("growing", "the dirty list");
        }
        t->dirty[t->dirty_len++] = (struct range){offset, (size_t)written};
    }
    pthread_mutex_unlock(&lock);
}

/* What a sync makes durable: the file's size and every byte written since the last sync. */
static void synced(int fd) {
    if (fd < 0 || fd >= MAX_FD) return;
    pthread_mutex_lock(&lock);
    struct tracked *t = &files[fd];
    if (t->copy_fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) != 0) die("measuring", "a followed file");
        if (real_ftruncate(t->copy_fd, st.st_size) != 0) die("sizing", "a copy");
        for (size_t i = 0; i < t->dirty_len; i++)
            copy_range(fd, t->copy_fd, t->dirty[i].offset, t->dirty[i].length);
        t->dirty_len = 0;
    }
    pthread_mutex_unlock(&lock);
}

static mode_t mode_of(int flags, va_list args) {
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(args, int) : 0;
}

static int open_followed(const char *path, int flags, mode_t mode) {
    pthread_once(&once, resolve);
    int fd = real_open(path, flags, mode);
    follow(fd, path, flags);
    return fd;
}

int open(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    return open_followed(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    return open_followed(path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...) {
    pthread_once(&once, resolve);
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_of(flags, args);
    va_end(args);
    int fd = real_openat(dir, path, flags, mode);
    if (path[0] == '/') follow(fd, path, flags);
    return fd;
}

ssize_t write(int fd, const void *buffer, size_t length) {
    pthread_once(&once, resolve);
    off_t at = lseek(fd, 0, SEEK_CUR);
    ssize_t written = real_write(fd, buffer, length);
    if (at >= 0) note_write(fd, at, written);
    return written;
}

ssize_t pwrite(int fd, const void *buffer, size_t length, off_t offset) {
    pthread_once(&once, resolve);
    ssize_t written = real_pwrite(fd, buffer, length, offset);
    note_write(fd, offset, written);
    return written;
}

ssize_t pwrite64(int fd, const void *buffer, size_t length, off_t offset) {
    return pwrite(fd, buffer, length, offset);
}

int ftruncate(int fd, off_t length) {
    pthread_once(&once, resolve);
    /* The new size reaches the copy with the next sync, as a truncation reaches the disk. */
    return real_ftruncate(fd, length);
}

int ftruncate64(int fd, off_t length) {
    return ftruncate(fd, length);
}

int fsync(int fd) {
    pthread_once(&once, resolve);
    int result = real_fsync(fd);
    if (result == 0) synced(fd);
    return result;
}

int fdatasync(int fd) {
    pthread_once(&once, resolve);
    int result = real_fdatasync(fd);
    if (result == 0) synced(fd);
    return result;
}

int close(int fd) {
    pthread_once(&once, resolve);
    if (fd >= 0 && fd < MAX_FD) {
        pthread_mutex_lock(&lock);
        struct tracked *t = &files[fd];
        if (t->copy_fd >= 0) {
            /* Unsynced writes of a closed file are as lost as those of a running one. */
            real_close(t->copy_fd);
            t->copy_fd = -1;
            t->dirty_len = 0;
        }
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}
