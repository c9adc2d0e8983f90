// Go's own resolver (built with CGO_ENABLED=0) for each name on the command line, printed
// as gai.c prints: "name<TAB>ok<TAB>ip,ip<TAB>micros" or "name<TAB>err<TAB>kind<TAB>micros".
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

func main() {
	r := &net.Resolver{PreferGo: true}
	for _, name := range os.Args[1:] {
		t0 := time.Now()
		addrs, err := r.LookupIPAddr(context.Background(), name)
		us := time.Since(t0).Microseconds()
		if err != nil {
			kind := "fail"
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				kind = "notfound"
			}
			fmt.Printf("%s\terr\t%s\t%d\n", name, kind, us)
			continue
		}
		seen := map[string]bool{}
		ips := []string{}
		for _, a := range addrs {
			s := a.IP.String()
			if !seen[s] {
				seen[s] = true
				ips = append(ips, s)
			}
		}
		sort.Strings(ips)
		fmt.Printf("%s\tok\t%s\t%d\n", name, strings.Join(ips, ","), us)
	}
}
