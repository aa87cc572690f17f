# a python plugin
