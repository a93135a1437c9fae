import json,sys
def load(p):
    return [json.loads(l) for l in open(p) if l.strip()]
a=load(sys.argv[1]); b=load(sys.argv[2])
skip={'wall_s','step_s','train_s'}
diff=0
for x,y in zip(a,b):
    for k in set(x)|set(y):
        if k in skip: continue
        if x.get(k)!=y.get(k): diff+=1; print(x['step'],k,x.get(k),y.get(k))
print(len(a),len(b),'lines; differing values:',diff)
