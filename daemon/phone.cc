/* Phone numbers through libphonenumber: the only C++ in ccpd, kept behind
 * the C API of phone.h. No numbering tables of our own: every rule about
 * lengths, prefixes and regions is libphonenumber's. */
#include <cerrno>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <new>
#include <set>
#include <string>
#include <strings.h>

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include "phone.h"

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

struct phone_number {
	PhoneNumber pn;
};

static const PhoneNumberUtil *util()
{
	return PhoneNumberUtil::GetInstance();
}

/* Upper-case a region into out[4]; false when it cannot be one. */
static bool region_code(const char *region, char out[4])
{
	size_t n = region ? strlen(region) : 0;

	if (n < 2 || n > 3)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)toupper((unsigned char)region[i]);
	out[n] = '\0';
	return true;
}

extern "C" bool phone_region_known(const char *region)
{
	char rc[4];

	if (!region_code(region, rc))
		return false;
	try {
		static const std::set<std::string> regions = [] {
			std::set<std::string> r;

			util()->GetSupportedRegions(&r);
			return r;
		}();

		return regions.count(rc) > 0;
	} catch (...) {
		return false;
	}
}

/* The user part of a sip: or sips: URI ("" when it has none), or NULL
 * when the text is no SIP URI. Accepts a name-addr ("Name" <sip:...>). */
static bool sip_user(const char *text, std::string *user, bool *user_phone)
{
	const char *p = strchr(text, '<'), *at, *end;

	p = p ? p + 1 : text;
	if (strncasecmp(p, "sip:", 4) == 0)
		p += 4;
	else if (strncasecmp(p, "sips:", 5) == 0)
		p += 5;
	else
		return false;
	end = p + strcspn(p, ">");
	at = (const char *)memchr(p, '@', (size_t)(end - p));
	if (!at) {
		user->clear();
		*user_phone = false;
		return true;
	}
	/* user parameters (";isub=", ";phone-context=") are not dialed */
	user->assign(p, (size_t)(strcspn(p, ";@")));
	std::string rest(at, (size_t)(end - at));
	*user_phone = rest.find(";user=phone") != std::string::npos;
	return true;
}

static enum phone_error parse_error(PhoneNumberUtil::ErrorType e,
				    bool have_region)
{
	switch (e) {
	case PhoneNumberUtil::NO_PARSING_ERROR:
		return PHONE_OK;
	case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
		return have_region ? PHONE_ERR_INVALID_COUNTRY_CODE
				   : PHONE_ERR_NO_REGION;
	case PhoneNumberUtil::NOT_A_NUMBER:
		return PHONE_ERR_NOT_A_NUMBER;
	case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
	case PhoneNumberUtil::TOO_SHORT_NSN:
		return PHONE_ERR_TOO_SHORT;
	case PhoneNumberUtil::TOO_LONG_NSN:
		return PHONE_ERR_TOO_LONG;
	}
	return PHONE_ERR_NOT_A_NUMBER;
}

static enum phone_error possible_error(PhoneNumberUtil::ValidationResult v)
{
	switch (v) {
	case PhoneNumberUtil::IS_POSSIBLE:
		return PHONE_OK;
	case PhoneNumberUtil::INVALID_COUNTRY_CODE:
		return PHONE_ERR_INVALID_COUNTRY_CODE;
	case PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY:
	case PhoneNumberUtil::TOO_SHORT:
		return PHONE_ERR_TOO_SHORT;
	case PhoneNumberUtil::TOO_LONG:
		return PHONE_ERR_TOO_LONG;
	case PhoneNumberUtil::INVALID_LENGTH:
		return PHONE_ERR_INVALID_LENGTH;
	}
	return PHONE_ERR_NOT_VALID;
}

/* libphonenumber reads numbers out of free text ("call 020 ..."); a dialed
 * endpoint must be a number and nothing else, so the text has to start
 * like one. */
static bool starts_like_number(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return *s == '+' || *s == '(' || isdigit((unsigned char)*s) ||
	       strncasecmp(s, "tel:", 4) == 0;
}

static enum phone_error parse_into(const char *text, const char *region,
				   PhoneNumber *pn)
{
	char rc[4] = "ZZ";
	std::string input;
	bool user_phone = false;

	if (region && *region) {
		if (!region_code(region, rc) || !phone_region_known(rc))
			return PHONE_ERR_BAD_REGION;
	}
	if (sip_user(text, &input, &user_phone)) {
		if (input.empty())
			return PHONE_ERR_NOT_A_NUMBER;
	} else {
		input = text;
	}
	if (!starts_like_number(input.c_str()))
		return PHONE_ERR_NOT_A_NUMBER;
	/* without a region only "+" can say the country: its absence, not
	 * the code, is then what is wrong */
	enum phone_error e = parse_error(util()->Parse(input, rc, pn),
					 strcmp(rc, "ZZ") != 0 ||
					 input.find('+') != std::string::npos);
	if (e != PHONE_OK)
		return e;
	e = possible_error(util()->IsPossibleNumberWithReason(*pn));
	if (e != PHONE_OK)
		return e;
	if (!util()->IsValidNumber(*pn))
		return PHONE_ERR_NOT_VALID;
	if (pn->has_extension() && !pn->extension().empty())
		return PHONE_ERR_EXTENSION;
	return PHONE_OK;
}

extern "C" int phone_parse(const char *text, const char *region,
			   struct phone_number **ret, enum phone_error *why)
{
	try {
		struct phone_number *n = new phone_number;
		enum phone_error e = parse_into(text, region, &n->pn);

		*why = e;
		if (e != PHONE_OK) {
			delete n;
			return -EINVAL;
		}
		*ret = n;
		return 0;
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		*why = PHONE_ERR_NOT_A_NUMBER;
		return -EINVAL;
	}
}

extern "C" struct phone_number *phone_number_free(struct phone_number *n)
{
	delete n;
	return NULL;
}

extern "C" int phone_format(const struct phone_number *n,
			    enum phone_format fmt, char *out, size_t size)
{
	PhoneNumberUtil::PhoneNumberFormat f = PhoneNumberUtil::E164;
	std::string s;

	switch (fmt) {
	case PHONE_FMT_E164:          f = PhoneNumberUtil::E164; break;
	case PHONE_FMT_INTERNATIONAL: f = PhoneNumberUtil::INTERNATIONAL; break;
	case PHONE_FMT_NATIONAL:      f = PhoneNumberUtil::NATIONAL; break;
	case PHONE_FMT_RFC3966:       f = PhoneNumberUtil::RFC3966; break;
	}
	try {
		util()->Format(n->pn, f, &s);
	} catch (...) {
		return -ENOMEM;
	}
	if (s.size() + 1 > size)
		return -ENOSPC;
	memcpy(out, s.c_str(), s.size() + 1);
	return 0;
}

extern "C" void phone_region_of(const struct phone_number *n, char *out,
				size_t size)
{
	std::string r;

	try {
		util()->GetRegionCodeForNumber(n->pn, &r);
	} catch (...) {
		r = "ZZ";
	}
	snprintf(out, size, "%s", r.c_str());
}

extern "C" const char *phone_type_of(const struct phone_number *n)
{
	switch (util()->GetNumberType(n->pn)) {
	case PhoneNumberUtil::FIXED_LINE:           return "FIXED_LINE";
	case PhoneNumberUtil::MOBILE:               return "MOBILE";
	case PhoneNumberUtil::FIXED_LINE_OR_MOBILE: return "FIXED_LINE_OR_MOBILE";
	case PhoneNumberUtil::TOLL_FREE:            return "TOLL_FREE";
	case PhoneNumberUtil::PREMIUM_RATE:         return "PREMIUM_RATE";
	case PhoneNumberUtil::SHARED_COST:          return "SHARED_COST";
	case PhoneNumberUtil::VOIP:                 return "VOIP";
	case PhoneNumberUtil::PERSONAL_NUMBER:      return "PERSONAL_NUMBER";
	case PhoneNumberUtil::PAGER:                return "PAGER";
	case PhoneNumberUtil::UAN:                  return "UAN";
	case PhoneNumberUtil::VOICEMAIL:            return "VOICEMAIL";
	case PhoneNumberUtil::UNKNOWN:              return "UNKNOWN";
	}
	return "UNKNOWN";
}

extern "C" const char *phone_error_reason(enum phone_error e)
{
	switch (e) {
	case PHONE_OK:                       return "valid";
	case PHONE_ERR_NOT_A_NUMBER:         return "not a number";
	case PHONE_ERR_INVALID_COUNTRY_CODE: return "invalid country calling code";
	case PHONE_ERR_NO_REGION:            return "not in international form "
					       "(+ and the country calling "
					       "code), and no region is set "
					       "to read it in";
	case PHONE_ERR_BAD_REGION:           return "unknown region";
	case PHONE_ERR_TOO_SHORT:            return "too short";
	case PHONE_ERR_TOO_LONG:             return "too long";
	case PHONE_ERR_INVALID_LENGTH:       return "of a length the region's "
					       "numbering plan does not "
					       "allow";
	case PHONE_ERR_NOT_VALID:            return "not valid for the region";
	case PHONE_ERR_EXTENSION:            return "has an extension, which "
					       "cannot be dialed";
	}
	return "not a number";
}

extern "C" bool phone_sip_uri_is_number(const char *uri, const char *region)
{
	std::string user;
	bool user_phone = false;

	try {
		if (!sip_user(uri, &user, &user_phone) || user.empty())
			return false;
		if (user_phone || user[0] == '+')
			return true;
		/* an extension such as 1001 stays a SIP user: only what reads
		 * as a whole, valid number is taken for one */
		PhoneNumber pn;

		return parse_into(user.c_str(), region, &pn) == PHONE_OK;
	} catch (...) {
		return false;
	}
}

extern "C" int phone_format_from_name(const char *name)
{
	static const struct { const char *name; enum phone_format f; } t[] = {
		{ "E164", PHONE_FMT_E164 },
		{ "INTERNATIONAL", PHONE_FMT_INTERNATIONAL },
		{ "NATIONAL", PHONE_FMT_NATIONAL },
		{ "RFC3966", PHONE_FMT_RFC3966 },
	};

	for (const auto &e : t)
		if (strcmp(e.name, name) == 0)
			return e.f;
	return -1;
}
