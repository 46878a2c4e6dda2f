"""Solution: the gate rules, one node at a time, from the output back."""


def grad_f(x, y, z):
    a, m = x + y, max(y, z)
    b = a * m
    df_db, df_dx = x, b  # f = b * x: multiply swaps
    df_da, df_dm = df_db * m, df_db * a  # b = a * m
    df_dy_max = df_dm if y > z else 0.0  # max routes to the winner
    df_dz = df_dm if z >= y else 0.0
    df_dx += df_da  # a = x + y: add distributes; x is used twice, the copies sum
    df_dy = df_da + df_dy_max
    return df_dx, df_dy, df_dz
