/* Unit tests for the presence document: open only when routable, the RPID
 * activity for each kind of state, the note, markup escaped. Links pidf.c
 * only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pidf.h"
#include "tap.h"

struct view_case {
	const char *state, *type;
	bool routable;
	bool open;
	const char *activity;   /* NULL: none */
};

static const struct view_case views[] = {
	{ "Available", "routable", true, true, NULL },
	{ "Busy", "routable", false, false, "on-the-phone" },
	{ "PendingBusy", "routable", false, false, "on-the-phone" },
	{ "CallingCustomer", "offline", false, false, "on-the-phone" },
	{ "AfterContactWork", "system", false, false, "busy" },
	{ "MissedCallAgent", "error", false, false, "busy" },
	{ "Error", "error", false, false, "busy" },
	{ "Offline", "offline", false, false, "away" },
	{ "Break", "not_routable", false, false, "away" },
	/* Available with the media stack down is not routable */
	{ "Available", "routable", false, false, "away" },
};

static bool has(const char *doc, const char *part)
{
	return strstr(doc, part) != NULL;
}

int main(void)
{
	char doc[2048], name[96];
	size_t i;

	tap_plan(ARRAY_SIZE(views) + 2);
	for (i = 0; i < ARRAY_SIZE(views); i++) {
		const struct view_case *k = &views[i];
		struct tap_case c = { 0 };
		struct pidf_view v = pidf_view_of(k->state, k->type,
						  k->routable);
		char act[64];

		if (v.open != k->open)
			tap_fail(&c, "open %d\n", v.open);
		if ((v.activity == NULL) != (k->activity == NULL) ||
		    (v.activity && strcmp(v.activity, k->activity)))
			tap_fail(&c, "activity %s\n",
				 v.activity ? v.activity : "(none)");
		if (pidf_build(&v, "sip:agent@acd.example", doc,
			       sizeof(doc)) < 0)
			tap_fail(&c, "no document\n");
		if (!has(doc, k->open ? "<basic>open</basic>" :
					"<basic>closed</basic>"))
			tap_fail(&c, "basic wrong in %s\n", doc);
		snprintf(act, sizeof(act), "<rpid:%s/>", k->activity ?
			 k->activity : "");
		if (k->activity && !has(doc, act))
			tap_fail(&c, "no %s in %s\n", act, doc);
		if (!k->activity && has(doc, "<rpid:activities><rpid:"))
			tap_fail(&c, "an activity in %s\n", doc);
		snprintf(act, sizeof(act), "<note>%s</note>", k->state);
		if (!has(doc, act))
			tap_fail(&c, "no note in %s\n", doc);
		snprintf(name, sizeof(name), "%s%s (%s)", k->state,
			 k->routable ? ", routable" : "", k->type);
		tap_report(name, &c);
	}
	{
		struct tap_case c = { 0 };
		struct pidf_view v = { false, "away", "Break <b>&\"" };

		if (pidf_build(&v, "sip:a&b@h", doc, sizeof(doc)) < 0 ||
		    !has(doc, "<note>Break &lt;b&gt;&amp;&quot;</note>") ||
		    !has(doc, "entity=\"sip:a&amp;b@h\""))
			tap_fail(&c, "not escaped: %s\n", doc);
		tap_report("markup in a status name is escaped", &c);
	}
	{
		struct tap_case c = { 0 };
		struct pidf_view v = { true, NULL, "Available" };

		if (pidf_build(&v, "sip:a@h", doc, 100) != -ENOSPC)
			tap_fail(&c, "a short buffer was filled\n");
		tap_report("a document that does not fit is refused", &c);
	}
	return tap_exit();
}
