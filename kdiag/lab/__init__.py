"""kdiag.lab"""
