/* The presence document an ACD routes by: basic open or closed, the RPID
 * activity and the state's name as a note. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pidf.h"

struct pidf_view pidf_view_of(const char *state, const char *type,
			      bool routable)
{
	static const char *const on_phone[] = {
		"PendingBusy", "CallingCustomer", "Busy",
	};
	struct pidf_view v = { .open = routable, .note = state };
	size_t i;

	if (routable)
		return v;
	for (i = 0; i < sizeof(on_phone) / sizeof(on_phone[0]); i++)
		if (state && strcmp(state, on_phone[i]) == 0) {
			v.activity = "on-the-phone";
			return v;
		}
	/* a status the agent chose (Offline, Break, ...) is away; the
	 * system's states after a contact and the errors are busy */
	if (type && (strcmp(type, "offline") == 0 ||
		     strcmp(type, "not_routable") == 0 ||
		     strcmp(type, "routable") == 0))
		v.activity = "away";
	else
		v.activity = "busy";
	return v;
}

/* XML character data and attribute values alike */
static int escape(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; s && *s; s++) {
		const char *rep = NULL;
		size_t len;

		switch (*s) {
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '&': rep = "&amp;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		}
		len = rep ? strlen(rep) : 1;
		if (n + len >= size)
			return -ENOSPC;
		if (rep)
			memcpy(out + n, rep, len);
		else
			out[n] = *s;
		n += len;
	}
	if (n >= size)
		return -ENOSPC;
	out[n] = '\0';
	return (int)n;
}

int pidf_build(const struct pidf_view *v, const char *entity, char *out,
	       size_t size)
{
	char ent[512], note[256], act[64] = "";
	int n;

	if (escape(ent, sizeof(ent), entity) < 0 ||
	    escape(note, sizeof(note), v->note ? v->note : "") < 0)
		return -ENOSPC;
	if (v->activity)
		snprintf(act, sizeof(act), "<rpid:%s/>", v->activity);
	n = snprintf(out, size,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
		"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"\r\n"
		"    xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\"\r\n"
		"    xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\"\r\n"
		"    entity=\"%s\">\r\n"
		"  <tuple id=\"ccpd\">\r\n"
		"    <status><basic>%s</basic></status>\r\n"
		"    <contact>%s</contact>\r\n"
		"    <note>%s</note>\r\n"
		"  </tuple>\r\n"
		"  <dm:person id=\"agent\">\r\n"
		"    <rpid:activities>%s</rpid:activities>\r\n"
		"    <dm:note>%s</dm:note>\r\n"
		"  </dm:person>\r\n"
		"</presence>\r\n",
		ent, v->open ? "open" : "closed", ent, note,
		act, note);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}
