module mydocker

go 1.19
