/* A tiny blocking HTTP/1.1 GET over a raw IPv4 socket, for the consumer and C++ tests.
 * C11 (include it first, or define _POSIX_C_SOURCE yourself) and C++17. Bounded: 5 s socket
 * timeouts, reads at most `cap - 1` bytes. Returns the number of bytes read (headers + body,
 * NUL-terminated) or -1. */
#ifndef INFERMETRICS_TESTS_HTTP_GET_H
#define INFERMETRICS_TESTS_HTTP_GET_H

#if !defined(__cplusplus) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static inline long im_http_get(unsigned port, const char* path, char* buf, size_t cap) {
  struct sockaddr_in addr;
  struct timeval tv;
  char req[512];
  long total = 0;
  int n;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || cap == 0) return -1;
  tv.tv_sec = 5;
  tv.tv_usec = 0;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", path, port);
  if (n <= 0 || (size_t)n >= sizeof req || send(fd, req, (size_t)n, 0) != (ssize_t)n) {
    close(fd);
    return -1;
  }
  while ((size_t)total < cap - 1) {
    ssize_t got = recv(fd, buf + total, cap - 1 - (size_t)total, 0);
    if (got < 0) {
      close(fd);
      return -1;
    }
    if (got == 0) break;
    total += (long)got;
  }
  buf[total] = '\0';
  close(fd);
  return total;
}

#endif
