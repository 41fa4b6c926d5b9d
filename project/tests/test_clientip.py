from hypothesis import given, strategies as st
from django.test import RequestFactory, override_settings

from project.clientip import client_ip, client_ip_from

ips = st.ip_addresses().map(str)


@given(peer=ips, spoofed=st.lists(ips, max_size=4))
def test_without_trusted_proxies_a_header_never_decides(peer, spoofed):
    assert client_ip_from(remote_addr=peer, forwarded_for=", ".join(spoofed)) == str(__import__("ipaddress").ip_address(peer))


@given(client=ips, spoofed=st.lists(ips, max_size=3))
def test_proxy_count_takes_the_address_our_proxy_saw(client, spoofed):
    # The client may prepend anything; our one proxy appends what it saw.
    header = ", ".join([*spoofed, client])
    import ipaddress
    assert client_ip_from(remote_addr="10.0.0.2", forwarded_for=header, proxy_count=1) == str(ipaddress.ip_address(client))


def test_trusted_proxy_networks_are_skipped_from_the_right():
    got = client_ip_from(remote_addr="10.0.0.2", forwarded_for="6.6.6.6, 203.0.113.9, 10.0.0.7",
                         proxies=("10.0.0.0/8",))
    assert got == "203.0.113.9"
    # A peer that is not our proxy: its header is ignored.
    assert client_ip_from(remote_addr="198.51.100.1", forwarded_for="6.6.6.6", proxies=("10.0.0.0/8",)) == "198.51.100.1"


def test_garbage_in_the_header_falls_back_to_the_peer():
    assert client_ip_from(remote_addr="10.0.0.2", forwarded_for="not-an-ip", proxy_count=1) == "10.0.0.2"
    assert client_ip_from(remote_addr="10.0.0.2", forwarded_for="", proxy_count=1) == "10.0.0.2"


@override_settings(TRUSTED_PROXY_COUNT=1, TRUSTED_PROXIES=[])
def test_client_ip_reads_the_settings():
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5", REMOTE_ADDR="127.0.0.1")
    assert client_ip(request) == "203.0.113.5"
