/* Small helpers shared by the daemon's modules. */
#ifndef CCPD_UTIL_H
#define CCPD_UTIL_H

#include <stdint.h>

/* Wall-clock time in Unix milliseconds, for timestamps clients see. */
uint64_t util_now_ms(void);
/* Monotonic milliseconds, for durations. */
uint64_t util_mono_ms(void);
/* Milliseconds until a little past the start of the next second of the
 * wall clock: baresip's sndfile names its recordings by the second a
 * call's audio starts, so calls that must not share a file start a second
 * apart. */
uint64_t util_ms_to_next_second(void);
int util_set_nonblock_cloexec(int fd);
/* mkdir -p with a mode for the last component. */
int util_mkdir_p(const char *path, unsigned mode);

#endif
