/* test-http.c: which addresses a redirect from a public one may not reach */
#include <stdlib.h>

#include "ms_http.h"
#include "tap.h"

int main(void)
{
	static const char *local[] = {
		"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1", "100.127.255.255",
		"::1", "::", "fc00::1", "fdff::1", "fe80::1", "febf::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::10.0.0.1",
	};
	static const char *public[] = {
		"8.8.8.8", "172.15.255.255", "172.32.0.1", "192.167.1.1", "169.253.0.1",
		"100.63.255.255", "100.128.0.1", "1.0.0.1", "2001:db8::1", "2606:4700::1",
		"fec0::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "not an address",
	};

	unsetenv("MODELSWARM_TEST_PUBLIC_HOSTS");
	for (size_t i = 0; i < sizeof(local) / sizeof(*local); i++)
		ok(ms__ip_local(local[i]), "%s is local", local[i]);
	for (size_t i = 0; i < sizeof(public) / sizeof(*public); i++)
		ok(!ms__ip_local(public[i]), "%s is not", public[i]);
	setenv("MODELSWARM_TEST_PUBLIC_HOSTS", "127.0.0.3, 127.0.0.2", 1);
	ok(!ms__ip_local("127.0.0.2") && !ms__ip_local("127.0.0.3") &&
	   ms__ip_local("127.0.0.1") && ms__ip_local("127.0.0.20"),
	   "the test-only knob takes exactly the addresses it names as public");
	return tap_done();
}
