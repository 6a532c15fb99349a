/* Keep one freed block of CPython's frame stack for the next push (relate_ray/workers/frame_stack.py).
 *
 * CPython 3.11-3.12 keep Python frames on a per-thread stack of 16 KiB chunks, mapped with mmap
 * when a call does not fit and unmapped when the frame that opened the chunk returns. A loop whose
 * calls cross a chunk's end maps and unmaps one on every call (CPython gh-142183, fixed in 2026
 * releases of 3.13 and 3.14 by caching one chunk per thread). This wraps the interpreter's arena
 * allocator, which serves those chunks, so that one freed block of `cached_size` bytes is kept and
 * handed to the next request of that size; every other block goes to the allocator it wraps, which
 * made them all.
 * The arena allocator is only called with the GIL held, so the one cached block needs no lock.
 */
#include <stddef.h>

typedef struct {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
} ArenaAllocator;  /* CPython's PyObjectArenaAllocator, public C API since 3.4 */

extern void PyObject_GetArenaAllocator(ArenaAllocator *allocator);
extern void PyObject_SetArenaAllocator(ArenaAllocator *allocator);

static ArenaAllocator wrapped;
static size_t cached_size;
static void *cached;
static unsigned long long reused;

static void *chunk_alloc(void *ctx, size_t size) {
    (void)ctx;
    if (cached != NULL && size == cached_size) {
        void *block = cached;
        cached = NULL;
        reused++;
        return block;
    }
    return wrapped.alloc(wrapped.ctx, size);
}

static void chunk_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    if (cached == NULL && size == cached_size) {
        cached = ptr;
        return;
    }
    wrapped.free(wrapped.ctx, ptr, size);
}

/* Wrap the current arena allocator (once); returns 1 if this call installed the wrapper. */
int relate_cache_frame_chunks(size_t size) {
    ArenaAllocator current, mine = {NULL, chunk_alloc, chunk_free};
    PyObject_GetArenaAllocator(&current);
    if (current.alloc == chunk_alloc)
        return 0;
    wrapped = current;
    cached_size = size;
    PyObject_SetArenaAllocator(&mine);
    return 1;
}

/* How many requests the kept block has served. */
unsigned long long relate_frame_chunks_reused(void) {
    return reused;
}
