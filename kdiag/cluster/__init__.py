"""kdiag.cluster"""
