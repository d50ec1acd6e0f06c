"""kdiag.cli"""
