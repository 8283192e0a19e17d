// Package haproxy holds headcount's shipped HAProxy configuration and the tests that run a real HAProxy with it.
package haproxy
