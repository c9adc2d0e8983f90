// getaddrinfo for each name on the command line, as an application calls it (AF_UNSPEC,
// SOCK_STREAM): one line per name, "name<TAB>ok<TAB>ip,ip<TAB>micros" or
// "name<TAB>err<TAB>EAI_*<TAB>micros". Built against glibc (gcc) and musl (musl-gcc -static).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static const char *eai(int e) {
  switch (e) {
  case EAI_NONAME: return "EAI_NONAME";
#ifdef EAI_NODATA
  case EAI_NODATA: return "EAI_NODATA";
#endif
  case EAI_AGAIN: return "EAI_AGAIN";
  case EAI_FAIL: return "EAI_FAIL";
  default: return "EAI_OTHER";
  }
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int e = getaddrinfo(argv[i], NULL, &hints, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    if (e != 0) { printf("%s\terr\t%s\t%ld\n", argv[i], eai(e), us); continue; }
    char *ips[64]; int n = 0;
    for (struct addrinfo *p = res; p && n < 64; p = p->ai_next) {
      char buf[INET6_ADDRSTRLEN];
      const void *a = p->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr : (void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
      inet_ntop(p->ai_family, a, buf, sizeof buf);
      int seen = 0;
      for (int k = 0; k < n; k++) if (!strcmp(ips[k], buf)) seen = 1;
      if (!seen) ips[n++] = strdup(buf);
    }
    freeaddrinfo(res);
    qsort(ips, n, sizeof ips[0], cmp);
    printf("%s\tok\t", argv[i]);
    for (int k = 0; k < n; k++) { printf("%s%s", k ? "," : "", ips[k]); free(ips[k]); }
    printf("\t%ld\n", us);
  }
  fflush(stdout);
  return 0;
}
