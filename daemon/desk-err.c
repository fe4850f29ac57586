/* The one way the desk, the admin methods, the RPC layer and the dial
 * plan say why they refuse: a code and a reason in a struct desk_err.
 * Pure, so that the dial plan's unit test links it alone. */
#include <stdarg.h>
#include <stdio.h>

#include "desk.h"

int desk_vfail(struct desk_err *e, int code, const char *fmt, va_list ap)
{
	e->code = code;
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	return code;
}

int desk_fail(struct desk_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	desk_vfail(e, code, fmt, ap);
	va_end(ap);
	return code;
}
