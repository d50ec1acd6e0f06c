"""kdiag.render"""
